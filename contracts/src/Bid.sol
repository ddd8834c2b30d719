// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessGuarded} from "./base/AccessGuarded.sol";
import {Roles} from "./base/Roles.sol";
import {NodeStatus} from "./base/Types.sol";
import {IBid} from "./interfaces/IBid.sol";
import {IFizzRegistry} from "./interfaces/IFizzRegistry.sol";
import {IOrderRequest} from "./interfaces/IOrderRequest.sol";
import {IProviderRegistry} from "./interfaces/IProviderRegistry.sol";

/// @title Bid
/// @notice Bids on open orders and the matchmaker's choice among them.
/// @dev `placeBid`, `matchOrder`, `BidPlaced` and `OrderMatched` follow the real ABI
///      (spheron-network.md §6.1). Devnet rules: the bidder is a provider (gateway) wallet
///      whose status is neither Suspended nor Deactivated; a fizz-mode order (mode 0) takes
///      bids naming a fizz that is linked to that provider, is Registered or Active, and
///      accepts the order's token; a provider-mode order (mode 1) takes bids with fizz id 0.
///      One bid per (provider, fizz) per order; the price may not exceed the order's maxPrice.
contract Bid is IBid, AccessGuarded {
    /// @notice One bid.
    struct BidInfo {
        address provider;
        uint256 providerId;
        uint256 fizzId;
        uint256 bidPrice;
        uint64 blockNumber;
    }

    struct MatchedBid {
        address provider;
        uint256 fizzId;
        uint256 providerId;
        uint256 acceptedPrice;
    }

    /// @notice The order book.
    IOrderRequest public immutable orderRequest;
    /// @notice Where bidders must be registered.
    IProviderRegistry public immutable providerRegistry;
    /// @notice Where bid fizz nodes must be registered.
    IFizzRegistry public immutable fizzRegistry;

    mapping(uint64 => BidInfo[]) private _bids;
    mapping(uint64 => mapping(address => mapping(uint256 => uint256))) private _bidSlot;
    mapping(uint64 => MatchedBid) private _matched;

    event BidPlaced(uint64 orderId, uint256 bidPrice, address provider, uint256 fizz);
    event OrderMatched(
        uint64 orderId,
        address providerAddress,
        uint256 fizzId,
        uint256 providerId,
        uint256 acceptedPrice,
        address creator
    );

    /// @notice The order is not open.
    error OrderNotOpen(uint64 orderId);
    /// @notice The bid price is zero.
    error InvalidBidPrice();
    /// @notice The bid price is above the order's maxPrice.
    error BidAboveMaxPrice(uint256 bidPrice, uint256 maxPrice);
    /// @notice The provider is Suspended or Deactivated.
    error ProviderInactive(uint256 providerId);
    /// @notice Fizz id 0 on a fizz order, or non-zero on a provider order.
    error InvalidFizzForMode(uint256 fizzId, uint8 mode);
    /// @notice The fizz is not attached to the bidding provider.
    error FizzNotLinked(uint256 fizzId, uint256 providerId);
    /// @notice The fizz is not Registered or Active.
    error FizzNotAvailable(uint256 fizzId);
    /// @notice The fizz does not accept the order's token.
    error TokenNotAcceptedByFizz(uint256 fizzId, address token);
    /// @notice That provider already bid with that fizz on that order.
    error DuplicateBid();
    /// @notice No bid of that provider and fizz on that order.
    error BidNotFound();

    /// @param _orderRequest The OrderRequest (this contract needs PROTOCOL_ROLE there).
    /// @param _providerRegistry The ProviderRegistry.
    /// @param _fizzRegistry The FizzRegistry.
    /// @param _access The AccessControlManager.
    constructor(
        address _orderRequest,
        address _providerRegistry,
        address _fizzRegistry,
        address _access
    ) AccessGuarded(_access) {
        if (
            _orderRequest == address(0) || _providerRegistry == address(0)
                || _fizzRegistry == address(0)
        ) revert InvalidAddress();
        orderRequest = IOrderRequest(_orderRequest);
        providerRegistry = IProviderRegistry(_providerRegistry);
        fizzRegistry = IFizzRegistry(_fizzRegistry);
    }

    /// @notice Bids `_bidPrice` per block on order `_orderId`, to be served by fizz `_fizzId`
    ///         (0 on a provider-mode order). The caller is a provider (gateway) wallet.
    function placeBid(uint64 _orderId, uint256 _bidPrice, uint256 _fizzId) external {
        uint256 providerId = providerRegistry.addressToProviderId(msg.sender);
        if (providerId == 0) revert IProviderRegistry.ProviderNotFound();
        uint8 providerStatus = providerRegistry.getProviderStatus(providerId);
        if (
            providerStatus == uint8(NodeStatus.Suspended)
                || providerStatus == uint8(NodeStatus.Deactivated)
        ) revert ProviderInactive(providerId);

        (, address token, uint256 maxPrice,, uint8 mode, uint8 state,) =
            orderRequest.getOrderSummary(_orderId);
        if (state != 0) revert OrderNotOpen(_orderId);
        if (_bidPrice == 0) revert InvalidBidPrice();
        if (_bidPrice > maxPrice) revert BidAboveMaxPrice(_bidPrice, maxPrice);
        if (mode == 0) {
            _checkFizz(_fizzId, providerId, token);
        } else if (_fizzId != 0) {
            revert InvalidFizzForMode(_fizzId, mode);
        }
        if (_bidSlot[_orderId][msg.sender][_fizzId] != 0) revert DuplicateBid();

        _bids[_orderId].push(
            BidInfo(msg.sender, providerId, _fizzId, _bidPrice, uint64(block.number))
        );
        _bidSlot[_orderId][msg.sender][_fizzId] = _bids[_orderId].length;
        emit BidPlaced(_orderId, _bidPrice, msg.sender, _fizzId);
    }

    /// @notice Accepts the bid of `_provider` with fizz `_fizzId` on order `_orderId`.
    ///         SETTLER_ROLE (the matchmaker) only.
    function matchOrder(uint64 _orderId, address _provider, uint256 _fizzId)
        external
        onlyRole(Roles.SETTLER_ROLE)
    {
        uint256 slot = _bidSlot[_orderId][_provider][_fizzId];
        if (slot == 0) revert BidNotFound();
        BidInfo storage b = _bids[_orderId][slot - 1];
        (address creator,,,,,,) = orderRequest.getOrderSummary(_orderId);
        orderRequest.markMatched(_orderId);
        _matched[_orderId] = MatchedBid(_provider, _fizzId, b.providerId, b.bidPrice);
        emit OrderMatched(_orderId, _provider, _fizzId, b.providerId, b.bidPrice, creator);
    }

    /// @notice Every bid on `_orderId`, in arrival order.
    function getBids(uint64 _orderId) external view returns (BidInfo[] memory) {
        return _bids[_orderId];
    }

    /// @inheritdoc IBid
    function getMatchedBid(uint64 orderId)
        external
        view
        returns (address provider, uint256 fizzId, uint256 providerId, uint256 acceptedPrice)
    {
        MatchedBid storage m = _matched[orderId];
        return (m.provider, m.fizzId, m.providerId, m.acceptedPrice);
    }

    function _checkFizz(uint256 fizzId, uint256 providerId, address token) private view {
        if (fizzId == 0) revert InvalidFizzForMode(fizzId, 0);
        if (!fizzRegistry.isFizzLinked(fizzId, providerId)) {
            revert FizzNotLinked(fizzId, providerId);
        }
        (,,, uint8 status,,,) = fizzRegistry.getFizz(fizzId);
        if (status != uint8(NodeStatus.Registered) && status != uint8(NodeStatus.Active)) {
            revert FizzNotAvailable(fizzId);
        }
        if (!fizzRegistry.isTokenAcceptedByFizz(fizzId, token)) {
            revert TokenNotAcceptedByFizz(fizzId, token);
        }
    }
}
