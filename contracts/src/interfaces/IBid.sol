// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IBid
/// @notice The matched bid ComputeLease checks a new lease against.
interface IBid {
    /// @notice The bid the matchmaker accepted for `orderId` (all zero before a match).
    function getMatchedBid(uint64 orderId)
        external
        view
        returns (address provider, uint256 fizzId, uint256 providerId, uint256 acceptedPrice);
}
