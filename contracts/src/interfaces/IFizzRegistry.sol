// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IFizzRegistry
/// @notice What the other contracts ask the FizzRegistry (a subset of its real interface).
interface IFizzRegistry {
    /// @notice The fizz id of `wallet`, 0 when it is not registered.
    function addressToFizzId(address wallet) external view returns (uint256);

    /// @notice True when `wallet` is a registered fizz node.
    function isRegisteredFizzNode(address wallet) external view returns (bool);

    /// @notice The status (NodeStatus as uint8) of fizz `wallet`; 0 when unregistered.
    function getFizzNodeStatus(address wallet) external view returns (uint8);

    /// @notice The whole record of fizz `fizzId`; reverts FizzNodeNotFound.
    function getFizz(uint256 fizzId)
        external
        view
        returns (
            uint256 providerId,
            string memory spec,
            address[] memory paymentsAccepted,
            uint8 status,
            uint256 joinTimestamp,
            address walletAddress,
            address rewardWallet
        );

    /// @notice True when fizz `fizzId` exists and is attached to provider `providerId`.
    function isFizzLinked(uint256 fizzId, uint256 providerId) external view returns (bool);

    /// @notice True when fizz `fizzId` accepts payment in `token`.
    function isTokenAcceptedByFizz(uint256 fizzId, address token) external view returns (bool);

    /// @notice Where the rewards of fizz `wallet` go; reverts FizzNodeNotFound.
    function getFizzNodeRewardWalletByAddress(address wallet) external view returns (address);
}
