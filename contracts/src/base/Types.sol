// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Life cycle of a fizz node or a provider (gateway); the ABI carries it as `uint8`.
/// @dev Same numbering as the real network's SDK: Unregistered=0, Registered=1, Active=2,
///      Maintenance=3, Suspended=4, Deactivated=5.
enum NodeStatus {
    Unregistered,
    Registered,
    Active,
    Maintenance,
    Suspended,
    Deactivated
}

/// @notice One resource claim: `units` of the resource `id` of a category's ResourceRegistry.
struct Attribute {
    uint256 id;
    uint256 units;
}
