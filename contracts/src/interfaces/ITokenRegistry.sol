// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ITokenRegistry
/// @notice The payment tokens the protocol accepts.
interface ITokenRegistry {
    /// @notice True when `token` is an accepted payment token.
    function isTokenRegistered(address token) external view returns (bool);
}
