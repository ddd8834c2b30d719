// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Roles
/// @notice Role identifiers of the Fizz devnet. Every role lives in the AccessControlManager;
///         the other contracts ask it through `IAccessControl.hasRole`.
library Roles {
    /// @notice OpenZeppelin's root role: grants and revokes every other role.
    bytes32 internal constant DEFAULT_ADMIN_ROLE = 0x00;
    /// @notice Operates the registries: tokens, resources, categories, statuses, whitelists.
    bytes32 internal constant ADMIN_ROLE = keccak256("ADMIN_ROLE");
    /// @notice Records rewards and slashes (the off-chain liveness checker / settlement).
    bytes32 internal constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    /// @notice Matches orders, creates leases and settles escrow (the devnet matchmaker).
    bytes32 internal constant SETTLER_ROLE = keccak256("SETTLER_ROLE");
    /// @notice May mint the SPON reward token (granted to the FizzRewardsManager).
    bytes32 internal constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Protocol contracts allowed to move escrow locks and order states
    ///         (OrderRequest, Bid, ComputeLease, EscrowProtocol).
    bytes32 internal constant PROTOCOL_ROLE = keccak256("PROTOCOL_ROLE");
}
