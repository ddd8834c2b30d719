// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IMintableToken
/// @notice A token that a holder of the right role may mint.
interface IMintableToken {
    /// @notice Mints `amount` to `to`.
    function mint(address to, uint256 amount) external;
}
