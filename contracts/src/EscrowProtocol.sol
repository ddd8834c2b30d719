// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {AccessGuarded} from "./base/AccessGuarded.sol";
import {Roles} from "./base/Roles.sol";
import {IComputeLease} from "./interfaces/IComputeLease.sol";
import {IFizzRegistry} from "./interfaces/IFizzRegistry.sol";
import {IOrderRequest} from "./interfaces/IOrderRequest.sol";

/// @title EscrowProtocol
/// @notice Fizz nodes' lease earnings: settlement moves tenants' locked escrow here, credited
///         to the fizz node, which withdraws it to its wallet.
/// @dev `fizzNodeEarnings`, `withdrawEarnings`, the fee parameter names and
///      `LockedTokenTransferedToFizz` follow the real ABI (spheron-network.md §4.2).
///      Devnet semantics:
///      - `transferLockedFizz(from, fizzId, token, amount)` charges the oldest active lease of
///        tenant `from` on fizz `fizzId` whose order is in `token` and still has `amount`
///        locked; of the amount, `fizzNodePercentage` % is credited to the fizz and the rest
///        to the protocol (treasury). The devnet deploys with 100 %: uSPON lease payments reach
///        the fizz in full. The event's `deposit` is the gross amount taken from the tenant;
///      - `userFeePercentage` is stored for interface parity and not charged (its real
///        meaning is not public);
///      - `withdrawEarnings(_provider, ...)`: the caller must be the fizz node's wallet and
///        `_provider` (the recipient) must be that same wallet.
contract EscrowProtocol is AccessGuarded {
    using SafeERC20 for IERC20;

    /// @notice A fizz node's earnings in one token.
    struct Earnings {
        uint128 earned;
        uint128 withdrawn;
        uint128 balance;
    }

    /// @notice Where the tenants' locks live (EscrowUser, via OrderRequest).
    address public immutable escrowUser;
    /// @notice The order book that pays out of an order's lock.
    IOrderRequest public immutable orderRequest;
    /// @notice The leases a settlement is charged against.
    IComputeLease public immutable computeLease;
    /// @notice Where a fizz id's wallet is looked up.
    IFizzRegistry public immutable fizzRegistry;
    /// @notice Receives the protocol's share.
    address public immutable treasury;

    /// @notice Fee on the tenant side, in percent (recorded, not charged on the devnet).
    uint256 public userFeePercentage;
    /// @notice The protocol's share of a settlement, in percent.
    uint256 public protocolFeePercentage;
    /// @notice The fizz node's share of a settlement, in percent.
    uint256 public fizzNodePercentage;

    /// @notice Earnings of fizz `fizzId` in `token`.
    mapping(uint256 => mapping(address => Earnings)) public fizzNodeEarnings;
    /// @notice The protocol's collected share per token, not yet sent to the treasury.
    mapping(address => uint256) public protocolEarnings;

    event LockedTokenTransferedToFizz(
        address indexed from, uint256 indexed fizzId, address indexed token, uint256 deposit
    );
    event EarningsWithdrawn(
        uint256 indexed fizzId, address indexed to, address indexed token, uint256 amount
    );
    event FeePercentagesUpdated(
        uint256 userFeePercentage, uint256 protocolFeePercentage, uint256 fizzNodePercentage
    );
    event ProtocolEarningsWithdrawn(address indexed token, uint256 amount);

    /// @notice An amount of zero.
    error ZeroAmount();
    /// @notice Percentages out of range, or fizz + protocol shares not adding up to 100.
    error InvalidFeePercentages();
    /// @notice No active lease of that tenant and fizz can pay that amount in that token.
    error NoActiveLease(address from, uint256 fizzId);
    /// @notice The caller is not the fizz node's wallet.
    error NotFizzOwner();
    /// @notice More than the fizz node's balance.
    error InsufficientEarnings(uint256 balance, uint256 requested);

    /// @param _escrowUser The EscrowUser.
    /// @param _orderRequest The OrderRequest (this contract needs PROTOCOL_ROLE there).
    /// @param _computeLease The ComputeLease.
    /// @param _fizzRegistry The FizzRegistry.
    /// @param _treasury Receives the protocol's share.
    /// @param _userFeePercentage Tenant-side fee, percent (recorded only).
    /// @param _protocolFeePercentage Protocol share of settlements, percent.
    /// @param _fizzNodePercentage Fizz share of settlements, percent (+ protocol = 100).
    /// @param _access The AccessControlManager.
    constructor(
        address _escrowUser,
        address _orderRequest,
        address _computeLease,
        address _fizzRegistry,
        address _treasury,
        uint256 _userFeePercentage,
        uint256 _protocolFeePercentage,
        uint256 _fizzNodePercentage,
        address _access
    ) AccessGuarded(_access) {
        if (
            _escrowUser == address(0) || _orderRequest == address(0)
                || _computeLease == address(0) || _fizzRegistry == address(0)
                || _treasury == address(0)
        ) revert InvalidAddress();
        escrowUser = _escrowUser;
        orderRequest = IOrderRequest(_orderRequest);
        computeLease = IComputeLease(_computeLease);
        fizzRegistry = IFizzRegistry(_fizzRegistry);
        treasury = _treasury;
        _setFees(_userFeePercentage, _protocolFeePercentage, _fizzNodePercentage);
    }

    /// @notice Moves `amount` of tenant `from`'s locked `token` into fizz `fizzId`'s earnings.
    ///         SETTLER_ROLE only.
    function transferLockedFizz(address from, uint256 fizzId, address token, uint256 amount)
        external
        onlyRole(Roles.SETTLER_ROLE)
    {
        if (amount == 0) revert ZeroAmount();
        uint64 orderId = _chargeableOrder(from, fizzId, token, amount);
        orderRequest.consumeLock(orderId, amount, address(this));

        uint256 fizzShare = amount * fizzNodePercentage / 100;
        Earnings storage e = fizzNodeEarnings[fizzId][token];
        e.earned += SafeCast.toUint128(fizzShare);
        e.balance += SafeCast.toUint128(fizzShare);
        protocolEarnings[token] += amount - fizzShare;
        emit LockedTokenTransferedToFizz(from, fizzId, token, amount);
    }

    /// @notice Withdraws `_amount` of fizz `_fizzId`'s `_token` earnings to `_provider`, which
    ///         must be the caller and the fizz node's wallet.
    function withdrawEarnings(address _provider, uint256 _fizzId, address _token, uint256 _amount)
        external
    {
        (,,,,, address wallet,) = fizzRegistry.getFizz(_fizzId);
        if (msg.sender != wallet) revert NotFizzOwner();
        if (_provider != msg.sender) revert InvalidAddress();
        if (_amount == 0) revert ZeroAmount();
        Earnings storage e = fizzNodeEarnings[_fizzId][_token];
        if (_amount > e.balance) revert InsufficientEarnings(e.balance, _amount);
        uint128 amount = uint128(_amount);
        e.balance -= amount;
        e.withdrawn += amount;
        IERC20(_token).safeTransfer(_provider, _amount);
        emit EarningsWithdrawn(_fizzId, _provider, _token, _amount);
    }

    /// @notice Sets the fee percentages. ADMIN_ROLE only.
    function setFeePercentages(
        uint256 _userFeePercentage,
        uint256 _protocolFeePercentage,
        uint256 _fizzNodePercentage
    ) external onlyRole(Roles.ADMIN_ROLE) {
        _setFees(_userFeePercentage, _protocolFeePercentage, _fizzNodePercentage);
    }

    /// @notice Sends the protocol's collected `token` share to the treasury. ADMIN_ROLE only.
    function withdrawProtocolEarnings(address token) external onlyRole(Roles.ADMIN_ROLE) {
        uint256 amount = protocolEarnings[token];
        if (amount == 0) revert ZeroAmount();
        protocolEarnings[token] = 0;
        IERC20(token).safeTransfer(treasury, amount);
        emit ProtocolEarningsWithdrawn(token, amount);
    }

    function _setFees(uint256 userFee, uint256 protocolFee, uint256 fizzShare) private {
        if (userFee > 100 || protocolFee + fizzShare != 100) revert InvalidFeePercentages();
        userFeePercentage = userFee;
        protocolFeePercentage = protocolFee;
        fizzNodePercentage = fizzShare;
        emit FeePercentagesUpdated(userFee, protocolFee, fizzShare);
    }

    function _chargeableOrder(address from, uint256 fizzId, address token, uint256 amount)
        private
        view
        returns (uint64)
    {
        uint256[] memory active = computeLease.getActiveLeasesForFizz(fizzId);
        for (uint256 i = 0; i < active.length; i++) {
            if (computeLease.getLeaseTenant(active[i]) != from) continue;
            uint64 orderId = uint64(active[i]);
            (, address orderToken,,,,, uint256 locked) = orderRequest.getOrderSummary(orderId);
            if (orderToken == token && locked >= amount) return orderId;
        }
        revert NoActiveLease(from, fizzId);
    }
}
