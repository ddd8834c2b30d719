// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessGuarded} from "./base/AccessGuarded.sol";
import {Roles} from "./base/Roles.sol";
import {IBid} from "./interfaces/IBid.sol";
import {IComputeLease} from "./interfaces/IComputeLease.sol";
import {IOrderRequest} from "./interfaces/IOrderRequest.sol";

/// @title ComputeLease
/// @notice Leases: a matched order running on its fizz node. The lease id is the order id
///         (as the real SDK assumes).
/// @dev `createLease`, `closeLease`, `LeaseCreated` and `LeaseClosed` follow the real ABI
///      (spheron-network.md §6.1); states 0 active, 1 terminated. Devnet choices: the lease
///      must repeat the matched bid exactly; `endTime` is 0 while the lease runs and the
///      close time afterwards; the tenant, the provider or a SETTLER_ROLE account may close,
///      which releases whatever is left of the order's escrow lock (settle first:
///      EscrowProtocol.transferLockedFizz only charges active leases).
contract ComputeLease is IComputeLease, AccessGuarded {
    /// @notice Lease states, numbered as on the real network.
    enum LeaseState {
        Active,
        Terminated
    }

    /// @notice A lease as stored.
    struct Lease {
        uint256 leaseId;
        uint256 fizzId;
        uint64 requestId;
        uint256 acceptedPrice;
        address providerAddress;
        address tenantAddress;
        uint32 startBlock;
        uint32 startTime;
        uint32 endTime;
        LeaseState state;
    }

    /// @notice The order book.
    IOrderRequest public immutable orderRequest;
    /// @notice Where the matched bid is read.
    IBid public immutable bid;

    /// @notice Lease `leaseId` as stored (all zero when none).
    mapping(uint256 => Lease) public leases;

    mapping(uint256 => uint256[]) private _activeByFizz;
    mapping(uint256 => uint256) private _activeSlot;

    event LeaseCreated(
        uint256 leaseId,
        uint256 fizzId,
        uint64 requestId,
        uint256 acceptedPrice,
        address providerAddress,
        address tenantAddress,
        uint32 startBlock,
        uint32 startTime,
        uint32 endTime,
        uint8 state
    );
    event LeaseClosed(
        uint256 leaseId, address providerAddress, address tenantAddress, uint32 endTime, uint8 state
    );

    /// @notice A lease for that order exists already.
    error LeaseAlreadyExists(uint256 leaseId);
    /// @notice No lease has that id.
    error LeaseNotFound(uint256 leaseId);
    /// @notice The lease is terminated.
    error LeaseNotActive(uint256 leaseId);
    /// @notice The lease does not repeat the matched bid.
    error LeaseMismatch();
    /// @notice Only the tenant, the provider or a settler may close.
    error NotLeaseParty();

    /// @param _orderRequest The OrderRequest (this contract needs PROTOCOL_ROLE there).
    /// @param _bid The Bid contract.
    /// @param _access The AccessControlManager.
    constructor(address _orderRequest, address _bid, address _access) AccessGuarded(_access) {
        if (_orderRequest == address(0) || _bid == address(0)) revert InvalidAddress();
        orderRequest = IOrderRequest(_orderRequest);
        bid = IBid(_bid);
    }

    /// @notice Starts the lease of matched order `_orderId`. SETTLER_ROLE only.
    function createLease(
        uint64 _orderId,
        uint256 _acceptedPrice,
        address _providerAdress,
        uint256 _fizzId
    ) external onlyRole(Roles.SETTLER_ROLE) {
        uint256 leaseId = _orderId;
        if (leases[leaseId].tenantAddress != address(0)) revert LeaseAlreadyExists(leaseId);
        (address provider, uint256 fizzId,, uint256 acceptedPrice) = bid.getMatchedBid(_orderId);
        if (provider != _providerAdress || fizzId != _fizzId || acceptedPrice != _acceptedPrice) {
            revert LeaseMismatch();
        }
        (address tenant,,,,,,) = orderRequest.getOrderSummary(_orderId);
        orderRequest.markProvisioned(_orderId);

        leases[leaseId] = Lease({
            leaseId: leaseId,
            fizzId: _fizzId,
            requestId: _orderId,
            acceptedPrice: _acceptedPrice,
            providerAddress: _providerAdress,
            tenantAddress: tenant,
            startBlock: uint32(block.number),
            startTime: uint32(block.timestamp),
            endTime: 0,
            state: LeaseState.Active
        });
        _activeByFizz[_fizzId].push(leaseId);
        _activeSlot[leaseId] = _activeByFizz[_fizzId].length;
        _emitCreated(leases[leaseId]);
    }

    /// @notice Terminates lease `_leaseId` and releases the rest of the order's lock.
    function closeLease(uint256 _leaseId) external {
        Lease storage l = leases[_leaseId];
        if (l.tenantAddress == address(0)) revert LeaseNotFound(_leaseId);
        if (l.state != LeaseState.Active) revert LeaseNotActive(_leaseId);
        if (
            msg.sender != l.tenantAddress && msg.sender != l.providerAddress
                && !_hasRole(Roles.SETTLER_ROLE, msg.sender)
        ) revert NotLeaseParty();

        l.state = LeaseState.Terminated;
        l.endTime = uint32(block.timestamp);
        _removeActive(l.fizzId, _leaseId);
        orderRequest.finalizeOrder(l.requestId);
        emit LeaseClosed(
            _leaseId, l.providerAddress, l.tenantAddress, l.endTime, uint8(LeaseState.Terminated)
        );
    }

    /// @inheritdoc IComputeLease
    function getActiveLeasesForFizz(uint256 _fizzId) external view returns (uint256[] memory) {
        return _activeByFizz[_fizzId];
    }

    /// @inheritdoc IComputeLease
    function getLeaseTenant(uint256 _leaseId) external view returns (address) {
        return leases[_leaseId].tenantAddress;
    }

    function _emitCreated(Lease storage l) private {
        emit LeaseCreated(
            l.leaseId,
            l.fizzId,
            l.requestId,
            l.acceptedPrice,
            l.providerAddress,
            l.tenantAddress,
            l.startBlock,
            l.startTime,
            l.endTime,
            uint8(l.state)
        );
    }

    function _removeActive(uint256 fizzId, uint256 leaseId) private {
        uint256[] storage active = _activeByFizz[fizzId];
        uint256 slot = _activeSlot[leaseId];
        // Keep the oldest-first order the settlement relies on: shift, not swap.
        for (uint256 i = slot; i < active.length; i++) {
            active[i - 1] = active[i];
            _activeSlot[active[i]] = i;
        }
        active.pop();
        delete _activeSlot[leaseId];
    }
}
