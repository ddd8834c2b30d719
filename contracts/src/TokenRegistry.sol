// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessGuarded} from "./base/AccessGuarded.sol";
import {Roles} from "./base/Roles.sol";
import {ITokenRegistry} from "./interfaces/ITokenRegistry.sol";

/// @title TokenRegistry
/// @notice The payment tokens the protocol accepts (escrow deposits, orders, fizz payments).
contract TokenRegistry is ITokenRegistry, AccessGuarded {
    address[] private _tokens;
    /// @dev Position in `_tokens` plus one; 0 = not registered.
    mapping(address => uint256) private _slot;

    /// @notice `token` became an accepted payment token.
    event TokenAdded(address indexed token);
    /// @notice `token` is no longer accepted.
    event TokenRemoved(address indexed token);

    /// @notice The token is registered already.
    error TokenAlreadyRegistered(address token);
    /// @notice The token is not registered.
    error TokenNotRegistered(address token);

    /// @param _access The AccessControlManager.
    constructor(address _access) AccessGuarded(_access) {}

    /// @notice Accepts `token` for payments. ADMIN_ROLE only.
    function addToken(address token) external onlyRole(Roles.ADMIN_ROLE) {
        if (token == address(0)) revert InvalidAddress();
        if (_slot[token] != 0) revert TokenAlreadyRegistered(token);
        _tokens.push(token);
        _slot[token] = _tokens.length;
        emit TokenAdded(token);
    }

    /// @notice Stops accepting `token`. ADMIN_ROLE only. Existing balances stay withdrawable.
    function removeToken(address token) external onlyRole(Roles.ADMIN_ROLE) {
        uint256 slot = _slot[token];
        if (slot == 0) revert TokenNotRegistered(token);
        address last = _tokens[_tokens.length - 1];
        _tokens[slot - 1] = last;
        _slot[last] = slot;
        _tokens.pop();
        delete _slot[token];
        emit TokenRemoved(token);
    }

    /// @inheritdoc ITokenRegistry
    function isTokenRegistered(address token) external view returns (bool) {
        return _slot[token] != 0;
    }

    /// @notice Every accepted token (order not significant).
    function getAllTokens() external view returns (address[] memory) {
        return _tokens;
    }
}
