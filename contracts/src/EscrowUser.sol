// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessGuarded} from "./base/AccessGuarded.sol";
import {Roles} from "./base/Roles.sol";
import {IEscrowUser} from "./interfaces/IEscrowUser.sol";
import {ITokenRegistry} from "./interfaces/ITokenRegistry.sol";

/// @title EscrowUser
/// @notice Tenants' deposits. A deposit is free until an order locks part of it
///         (maxPrice x numOfBlocks); settlement pays fizz nodes out of the lock and closing
///         the order or lease releases the rest.
/// @dev `deposit(address,uint256)` follows the real network (spheron-network.md §6.1); the rest
///      is the devnet's shape. Locks are moved only by PROTOCOL_ROLE contracts (OrderRequest).
contract EscrowUser is IEscrowUser, AccessGuarded {
    using SafeERC20 for IERC20;

    struct UserData {
        uint256 deposited;
        uint256 locked;
    }

    /// @notice The TokenRegistry deposits are checked against.
    ITokenRegistry public immutable tokenRegistry;

    mapping(address => mapping(address => UserData)) private _users;

    event Deposited(address indexed user, address indexed token, uint256 amount);
    event Withdrawn(address indexed user, address indexed token, uint256 amount);
    event Locked(address indexed user, address indexed token, uint256 amount);
    event Unlocked(address indexed user, address indexed token, uint256 amount);
    event LockedCharged(
        address indexed user, address indexed token, uint256 amount, address indexed to
    );

    /// @notice The token is not in the TokenRegistry.
    error UnregisteredToken();
    /// @notice An amount of zero.
    error ZeroAmount();
    /// @notice Not enough free (unlocked) balance.
    error InsufficientBalance(uint256 available, uint256 requested);
    /// @notice Not enough locked balance.
    error InsufficientLocked(uint256 locked, uint256 requested);

    /// @param _tokenRegistry The TokenRegistry.
    /// @param _access The AccessControlManager.
    constructor(address _tokenRegistry, address _access) AccessGuarded(_access) {
        if (_tokenRegistry == address(0)) revert InvalidAddress();
        tokenRegistry = ITokenRegistry(_tokenRegistry);
    }

    /// @notice Deposits `amount` of `token` (approve this contract first).
    function deposit(address token, uint256 amount) external {
        if (!tokenRegistry.isTokenRegistered(token)) revert UnregisteredToken();
        if (amount == 0) revert ZeroAmount();
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        _users[msg.sender][token].deposited += amount;
        emit Deposited(msg.sender, token, amount);
    }

    /// @notice Withdraws `amount` of the caller's free `token` balance.
    function withdraw(address token, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        UserData storage u = _users[msg.sender][token];
        uint256 available = u.deposited - u.locked;
        if (amount > available) revert InsufficientBalance(available, amount);
        u.deposited -= amount;
        IERC20(token).safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, token, amount);
    }

    /// @inheritdoc IEscrowUser
    function lock(address user, address token, uint256 amount)
        external
        onlyRole(Roles.PROTOCOL_ROLE)
    {
        UserData storage u = _users[user][token];
        uint256 available = u.deposited - u.locked;
        if (amount > available) revert InsufficientBalance(available, amount);
        u.locked += amount;
        emit Locked(user, token, amount);
    }

    /// @inheritdoc IEscrowUser
    function unlock(address user, address token, uint256 amount)
        external
        onlyRole(Roles.PROTOCOL_ROLE)
    {
        UserData storage u = _users[user][token];
        if (amount > u.locked) revert InsufficientLocked(u.locked, amount);
        u.locked -= amount;
        emit Unlocked(user, token, amount);
    }

    /// @inheritdoc IEscrowUser
    function chargeLocked(address user, address token, uint256 amount, address to)
        external
        onlyRole(Roles.PROTOCOL_ROLE)
    {
        UserData storage u = _users[user][token];
        if (amount > u.locked) revert InsufficientLocked(u.locked, amount);
        u.locked -= amount;
        u.deposited -= amount;
        IERC20(token).safeTransfer(to, amount);
        emit LockedCharged(user, token, amount, to);
    }

    /// @notice `user`'s `token` escrow: everything held for them, and the locked part of it.
    function getUserData(address user, address token)
        external
        view
        returns (uint256 deposited, uint256 locked)
    {
        UserData storage u = _users[user][token];
        return (u.deposited, u.locked);
    }

    /// @notice The part of `user`'s `token` escrow that is free to lock or withdraw.
    function availableBalance(address user, address token) external view returns (uint256) {
        UserData storage u = _users[user][token];
        return u.deposited - u.locked;
    }
}
