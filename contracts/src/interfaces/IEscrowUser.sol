// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IEscrowUser
/// @notice The lock operations protocol contracts perform on tenants' escrow.
interface IEscrowUser {
    /// @notice Locks `amount` of `user`'s free `token` balance.
    function lock(address user, address token, uint256 amount) external;

    /// @notice Frees `amount` of `user`'s locked `token` balance.
    function unlock(address user, address token, uint256 amount) external;

    /// @notice Pays `amount` of `user`'s locked `token` balance out to `to`.
    function chargeLocked(address user, address token, uint256 amount, address to) external;
}
