// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @title AccessGuarded
/// @notice Base for contracts whose permissions live in the shared AccessControlManager.
/// @dev A missing role reverts with OpenZeppelin's `AccessControlUnauthorizedAccount(account, role)`,
///      so a client decodes the same error whichever contract refused it.
abstract contract AccessGuarded {
    /// @notice The AccessControlManager asked for every role check.
    IAccessControl public immutable access;

    /// @notice A required address was zero, or an address argument did not fit the call.
    error InvalidAddress();

    /// @param _access The AccessControlManager address.
    constructor(address _access) {
        if (_access == address(0)) revert InvalidAddress();
        access = IAccessControl(_access);
    }

    /// @dev Reverts unless the caller holds `role`.
    modifier onlyRole(bytes32 role) {
        _checkRole(role);
        _;
    }

    /// @dev Reverts unless the caller holds `role`.
    function _checkRole(bytes32 role) internal view {
        if (!access.hasRole(role, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, role);
        }
    }

    /// @dev Reverts unless the caller holds `first` or `second`; the error names `first`.
    function _checkEitherRole(bytes32 first, bytes32 second) internal view {
        if (!access.hasRole(first, msg.sender) && !access.hasRole(second, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, first);
        }
    }

    /// @dev True when `account` holds `role`.
    function _hasRole(bytes32 role, address account) internal view returns (bool) {
        return access.hasRole(role, account);
    }
}
