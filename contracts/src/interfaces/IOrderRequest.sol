// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IOrderRequest
/// @notice What Bid, ComputeLease and EscrowProtocol ask of, and tell, the order book.
interface IOrderRequest {
    /// @notice The fields of order `orderId` that the protocol contracts need.
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
        );

    /// @notice Open -> Matched (called by Bid.matchOrder).
    function markMatched(uint64 orderId) external;

    /// @notice Matched -> Provisioned (called by ComputeLease.createLease).
    function markProvisioned(uint64 orderId) external;

    /// @notice Pays `amount` of the order's lock to `to` (called by EscrowProtocol).
    function consumeLock(uint64 orderId, uint256 amount, address to) external;

    /// @notice Provisioned -> Closed, releasing what is left of the lock (ComputeLease.closeLease).
    function finalizeOrder(uint64 orderId) external;
}
