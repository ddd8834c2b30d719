// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IComputeLease
/// @notice The lease views EscrowProtocol uses to attribute a settlement to a lease.
interface IComputeLease {
    /// @notice Ids of the active leases of fizz `fizzId`, oldest first.
    function getActiveLeasesForFizz(uint256 fizzId) external view returns (uint256[] memory);

    /// @notice The tenant of lease `leaseId` (zero address when none).
    function getLeaseTenant(uint256 leaseId) external view returns (address);
}
