// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Roles} from "./base/Roles.sol";

/// @title AccessControlManager
/// @notice The one place where the devnet's roles are held. Every other contract asks it
///         `hasRole(role, account)` before a privileged action.
/// @dev The deployer receives DEFAULT_ADMIN_ROLE, ADMIN_ROLE, SLASHER_ROLE and SETTLER_ROLE.
///      MINTER_ROLE (SPON minting) and PROTOCOL_ROLE (contract-to-contract calls) are granted
///      by the deployment script to the contracts that need them.
contract AccessControlManager is AccessControl {
    /// @notice Operates the registries.
    bytes32 public constant ADMIN_ROLE = Roles.ADMIN_ROLE;
    /// @notice Records rewards and slashes.
    bytes32 public constant SLASHER_ROLE = Roles.SLASHER_ROLE;
    /// @notice Matches orders, creates leases, settles escrow.
    bytes32 public constant SETTLER_ROLE = Roles.SETTLER_ROLE;
    /// @notice Mints SPON.
    bytes32 public constant MINTER_ROLE = Roles.MINTER_ROLE;
    /// @notice Protocol contracts calling one another.
    bytes32 public constant PROTOCOL_ROLE = Roles.PROTOCOL_ROLE;

    /// @notice Gives the deployer every operator role.
    constructor() {
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
        _grantRole(ADMIN_ROLE, msg.sender);
        _grantRole(SLASHER_ROLE, msg.sender);
        _grantRole(SETTLER_ROLE, msg.sender);
    }
}
