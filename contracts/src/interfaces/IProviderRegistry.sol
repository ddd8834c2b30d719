// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IProviderRegistry
/// @notice What the other contracts ask the provider (gateway) registry.
interface IProviderRegistry {
    /// @notice No provider has that id (or the caller is not a provider).
    error ProviderNotFound();

    /// @notice The provider id of `wallet`, 0 when it is not a provider.
    function addressToProviderId(address wallet) external view returns (uint256);

    /// @notice True when provider `id` exists.
    function isProviderRegistered(uint256 id) external view returns (bool);

    /// @notice The provider's status (a NodeStatus value); reverts ProviderNotFound.
    function getProviderStatus(uint256 id) external view returns (uint8);
}
