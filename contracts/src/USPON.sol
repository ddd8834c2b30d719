// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {AccessGuarded} from "./base/AccessGuarded.sol";
import {Roles} from "./base/Roles.sol";

/// @title USPON
/// @notice The devnet's payment token "uSPON" (6 decimals, like the real one on Base).
/// @dev Only ADMIN_ROLE mints; the devnet faucet mints through the admin account.
contract USPON is ERC20, AccessGuarded {
    /// @param _access The AccessControlManager.
    constructor(address _access) ERC20("uSPON", "uSPON") AccessGuarded(_access) {}

    /// @notice uSPON has 6 decimals: 1 uSPON = 1_000_000 base units.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mints `amount` base units to `to`. ADMIN_ROLE only.
    function mint(address to, uint256 amount) external onlyRole(Roles.ADMIN_ROLE) {
        _mint(to, amount);
    }
}
