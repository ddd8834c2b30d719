// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessGuarded} from "./base/AccessGuarded.sol";
import {Roles} from "./base/Roles.sol";
import {IEscrowUser} from "./interfaces/IEscrowUser.sol";
import {IOrderRequest} from "./interfaces/IOrderRequest.sol";
import {ITokenRegistry} from "./interfaces/ITokenRegistry.sol";

/// @title OrderRequest
/// @notice Tenants' compute orders. Creating one locks maxPrice x numOfBlocks of the tenant's
///         escrow; the matchmaker matches it (Bid), a lease provisions it (ComputeLease), and
///         closing returns what is left of the lock.
/// @dev `createOrder` and `OrderCreated` follow the real ABI (spheron-network.md §6.1); state
///      numbering too (0 open, 1 provisioned, 2 closed, 3 matched). `getOrderDetails`,
///      `closeOrder` and the protocol hooks are the devnet's shape.
contract OrderRequest is IOrderRequest, AccessGuarded {
    /// @notice Order states, numbered as on the real network.
    enum OrderState {
        Open,
        Provisioned,
        Closed,
        Matched
    }

    /// @notice What `createOrder` takes (the real network's tuple).
    struct OrderParams {
        uint256 maxPrice;
        uint64 numOfBlocks;
        address token;
        string spec;
        uint16 version;
        uint8 mode;
        uint8[] tier;
    }

    /// @notice An order as stored.
    struct Order {
        uint64 id;
        address creator;
        uint256 maxPrice;
        uint64 numOfBlocks;
        address token;
        string spec;
        uint16 version;
        uint8 mode;
        uint8[] tier;
        OrderState state;
        uint64 createdBlock;
        uint256 lockedAmount;
    }

    /// @notice Order mode 0: a fizz node serves it (1 = a provider).
    uint8 public constant MODE_FIZZ = 0;
    /// @notice Order mode 1: a provider serves it.
    uint8 public constant MODE_PROVIDER = 1;

    /// @notice Where the tenant's funds are locked.
    IEscrowUser public immutable escrowUser;
    /// @notice The TokenRegistry the order token must be registered in.
    ITokenRegistry public immutable tokenRegistry;
    /// @notice The id the next order gets (ids start at 1).
    uint64 public nextOrderId = 1;

    mapping(uint64 => Order) private _orders;

    event OrderCreated(
        uint64 orderId,
        address creator,
        uint256 maxPrice,
        uint64 numOfBlocks,
        address token,
        string specs,
        uint16 version,
        uint8 mode
    );
    event OrderClosed(uint64 indexed orderId);
    event OrderStateUpdated(uint64 indexed orderId, uint8 state);

    /// @notice maxPrice or numOfBlocks is zero.
    error InvalidOrder();
    /// @notice A mode other than 0 (fizz) or 1 (provider).
    error InvalidMode(uint8 mode);
    /// @notice The order token is not in the TokenRegistry.
    error UnregisteredToken();
    /// @notice No order has that id.
    error OrderNotFound(uint64 orderId);
    /// @notice The order is not in the state the call needs.
    error InvalidOrderState(uint64 orderId, uint8 state);
    /// @notice Only the order's creator may do that.
    error NotOrderCreator();
    /// @notice More than the order's remaining lock.
    error InsufficientOrderLock(uint256 locked, uint256 requested);

    /// @param _escrowUser The EscrowUser (this contract needs PROTOCOL_ROLE there).
    /// @param _tokenRegistry The TokenRegistry.
    /// @param _access The AccessControlManager.
    constructor(address _escrowUser, address _tokenRegistry, address _access)
        AccessGuarded(_access)
    {
        if (_escrowUser == address(0) || _tokenRegistry == address(0)) revert InvalidAddress();
        escrowUser = IEscrowUser(_escrowUser);
        tokenRegistry = ITokenRegistry(_tokenRegistry);
    }

    /// @notice Creates an order and locks maxPrice x numOfBlocks of the caller's escrow.
    /// @return orderId The new order's id.
    function createOrder(OrderParams calldata params) external returns (uint64 orderId) {
        if (params.maxPrice == 0 || params.numOfBlocks == 0) revert InvalidOrder();
        if (params.mode > MODE_PROVIDER) revert InvalidMode(params.mode);
        if (!tokenRegistry.isTokenRegistered(params.token)) revert UnregisteredToken();
        uint256 amount = params.maxPrice * params.numOfBlocks;
        escrowUser.lock(msg.sender, params.token, amount);

        orderId = nextOrderId++;
        Order storage o = _orders[orderId];
        o.id = orderId;
        o.creator = msg.sender;
        o.maxPrice = params.maxPrice;
        o.numOfBlocks = params.numOfBlocks;
        o.token = params.token;
        o.spec = params.spec;
        o.version = params.version;
        o.mode = params.mode;
        o.tier = params.tier;
        o.state = OrderState.Open;
        o.createdBlock = uint64(block.number);
        o.lockedAmount = amount;
        emit OrderCreated(
            orderId,
            msg.sender,
            params.maxPrice,
            params.numOfBlocks,
            params.token,
            params.spec,
            params.version,
            params.mode
        );
    }

    /// @notice Cancels the caller's order while it is open or matched (no lease yet) and
    ///         releases its lock.
    function closeOrder(uint64 _orderId) external {
        Order storage o = _existing(_orderId);
        if (o.creator != msg.sender) revert NotOrderCreator();
        if (o.state != OrderState.Open && o.state != OrderState.Matched) {
            revert InvalidOrderState(_orderId, uint8(o.state));
        }
        _close(o);
    }

    // ----------------------------------------------------------------- protocol hooks

    /// @inheritdoc IOrderRequest
    function markMatched(uint64 orderId) external onlyRole(Roles.PROTOCOL_ROLE) {
        _transition(orderId, OrderState.Open, OrderState.Matched);
    }

    /// @inheritdoc IOrderRequest
    function markProvisioned(uint64 orderId) external onlyRole(Roles.PROTOCOL_ROLE) {
        _transition(orderId, OrderState.Matched, OrderState.Provisioned);
    }

    /// @inheritdoc IOrderRequest
    function consumeLock(uint64 orderId, uint256 amount, address to)
        external
        onlyRole(Roles.PROTOCOL_ROLE)
    {
        Order storage o = _existing(orderId);
        if (o.state != OrderState.Provisioned) revert InvalidOrderState(orderId, uint8(o.state));
        if (amount > o.lockedAmount) revert InsufficientOrderLock(o.lockedAmount, amount);
        o.lockedAmount -= amount;
        escrowUser.chargeLocked(o.creator, o.token, amount, to);
    }

    /// @inheritdoc IOrderRequest
    function finalizeOrder(uint64 orderId) external onlyRole(Roles.PROTOCOL_ROLE) {
        Order storage o = _existing(orderId);
        if (o.state != OrderState.Provisioned) revert InvalidOrderState(orderId, uint8(o.state));
        _close(o);
    }

    // ----------------------------------------------------------------- views

    /// @notice The whole order `_orderId`; reverts OrderNotFound.
    function getOrderDetails(uint64 _orderId) external view returns (Order memory) {
        return _existing(_orderId);
    }

    /// @inheritdoc IOrderRequest
    function getOrderSummary(uint64 orderId)
        external
        view
        returns (
            address creator,
            address token,
            uint256 maxPrice,
            uint64 numOfBlocks,
            uint8 mode,
            uint8 state,
            uint256 lockedAmount
        )
    {
        Order storage o = _existing(orderId);
        return (
            o.creator, o.token, o.maxPrice, o.numOfBlocks, o.mode, uint8(o.state), o.lockedAmount
        );
    }

    function _existing(uint64 orderId) private view returns (Order storage o) {
        o = _orders[orderId];
        if (o.creator == address(0)) revert OrderNotFound(orderId);
    }

    function _transition(uint64 orderId, OrderState from, OrderState to) private {
        Order storage o = _existing(orderId);
        if (o.state != from) revert InvalidOrderState(orderId, uint8(o.state));
        o.state = to;
        emit OrderStateUpdated(orderId, uint8(to));
    }

    function _close(Order storage o) private {
        uint256 remaining = o.lockedAmount;
        o.lockedAmount = 0;
        o.state = OrderState.Closed;
        if (remaining > 0) escrowUser.unlock(o.creator, o.token, remaining);
        emit OrderStateUpdated(o.id, uint8(OrderState.Closed));
        emit OrderClosed(o.id);
    }
}
