// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Attribute} from "../base/Types.sol";

/// @title IFizzAttributeRegistry
/// @notice What the rewards manager asks the attribute registry.
interface IFizzAttributeRegistry {
    /// @notice The FizzRegistry the attribute registry checks submitters against.
    function fizzRegistry() external view returns (address);

    /// @notice The approved claims of `fizz` in `category` ("CPU" or "GPU").
    function getAttributes(address fizz, string calldata category)
        external
        view
        returns (Attribute[] memory);
}
