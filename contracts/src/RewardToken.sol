// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {AccessGuarded} from "./base/AccessGuarded.sol";
import {Roles} from "./base/Roles.sol";

/// @title RewardToken
/// @notice The SPON reward token ("Spheron", 18 decimals) paid out by FizzRewardsManager.
/// @dev Minted on claim: the FizzRewardsManager holds MINTER_ROLE instead of a pre-funded
///      balance, so the devnet never runs dry. ADMIN_ROLE may mint too.
contract RewardToken is ERC20, AccessGuarded {
    /// @param _access The AccessControlManager.
    constructor(address _access) ERC20("Spheron", "SPON") AccessGuarded(_access) {}

    /// @notice Mints `amount` to `to`. MINTER_ROLE or ADMIN_ROLE only.
    function mint(address to, uint256 amount) external {
        _checkEitherRole(Roles.MINTER_ROLE, Roles.ADMIN_ROLE);
        _mint(to, amount);
    }
}
