// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IResourceRegistry
/// @notice One category's resource table (CPU or GPU).
interface IResourceRegistry {
    /// @notice Resource `id`: its name, tier and 18-decimal multiplier; reverts when unknown.
    function getResource(uint256 id)
        external
        view
        returns (string memory name, string memory tier, uint256 multiplier);

    /// @notice Resource `id` as stored, with `exists` false when unknown.
    function resources(uint256 id)
        external
        view
        returns (string memory name, string memory tier, uint256 multiplier, bool exists);
}
