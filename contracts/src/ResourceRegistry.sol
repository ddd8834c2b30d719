// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessGuarded} from "./base/AccessGuarded.sol";
import {Roles} from "./base/Roles.sol";
import {IResourceRegistry} from "./interfaces/IResourceRegistry.sol";

/// @title ResourceRegistry
/// @notice One category's resource table (deployed once for CPU, once for GPU): id -> name,
///         tier and reward multiplier.
/// @dev `getResource`, `resources` and `addResource` follow the real ABI (spheron-network.md §3.4).
///      Multipliers are fixed point with 18 decimals: 0.25 is stored as 25e16, 1 as 1e18.
contract ResourceRegistry is IResourceRegistry, AccessGuarded {
    struct Resource {
        string name;
        string tier;
        uint256 multiplier;
        bool exists;
    }

    /// @notice Resource `id` as stored (`exists` false when unknown).
    mapping(uint256 => Resource) public resources;

    uint256[] private _ids;

    /// @notice A resource was added.
    event ResourceAdded(uint256 indexed id, string name, string tier, uint256 multiplier);

    /// @notice The id arrays differ in length.
    error LengthMismatch();
    /// @notice The id is taken already.
    error ResourceAlreadyExists(uint256 id);
    /// @notice No resource has that id.
    error ResourceNotFound(uint256 id);
    /// @notice Ids start at 1; 0 is reserved for "none".
    error InvalidResourceId();

    /// @param _access The AccessControlManager.
    constructor(address _access) AccessGuarded(_access) {}

    /// @notice Adds resources; all arrays must have the same length. ADMIN_ROLE only.
    /// @param ids Ids (non-zero, not taken).
    /// @param names Short names, e.g. "rtx4090" or "gp".
    /// @param tiers Tier labels, e.g. "Medium 1" (may be empty where the tier is not published).
    /// @param multipliers Reward multipliers with 18 decimals (0.25 = 25e16).
    function addResource(
        uint256[] calldata ids,
        string[] calldata names,
        string[] calldata tiers,
        uint256[] calldata multipliers
    ) external onlyRole(Roles.ADMIN_ROLE) {
        if (
            ids.length != names.length || ids.length != tiers.length
                || ids.length != multipliers.length
        ) revert LengthMismatch();
        for (uint256 i = 0; i < ids.length; i++) {
            uint256 id = ids[i];
            if (id == 0) revert InvalidResourceId();
            if (resources[id].exists) revert ResourceAlreadyExists(id);
            resources[id] = Resource(names[i], tiers[i], multipliers[i], true);
            _ids.push(id);
            emit ResourceAdded(id, names[i], tiers[i], multipliers[i]);
        }
    }

    /// @inheritdoc IResourceRegistry
    function getResource(uint256 id)
        external
        view
        returns (string memory name, string memory tier, uint256 multiplier)
    {
        Resource storage r = resources[id];
        if (!r.exists) revert ResourceNotFound(id);
        return (r.name, r.tier, r.multiplier);
    }

    /// @notice Every resource id, in the order they were added.
    function getAllResourceIds() external view returns (uint256[] memory) {
        return _ids;
    }
}
