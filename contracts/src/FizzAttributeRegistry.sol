// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessGuarded} from "./base/AccessGuarded.sol";
import {Roles} from "./base/Roles.sol";
import {Attribute} from "./base/Types.sol";
import {IFizzRegistry} from "./interfaces/IFizzRegistry.sol";
import {IResourceRegistry} from "./interfaces/IResourceRegistry.sol";

/// @title FizzAttributeRegistry
/// @notice The resources each fizz node claims, per category ("CPU" or "GPU"): a list of
///         (resource id, units). Claims are submitted as pending and become effective once
///         approved, by the admin or at once while `autoApproval` is on.
/// @dev Signatures and events follow the real ABI (spheron-network.md §3.4). A new submission
///      replaces the pending claim of that category; approval replaces the approved claim.
contract FizzAttributeRegistry is AccessGuarded {
    bytes32 private constant CPU = keccak256("CPU");
    bytes32 private constant GPU = keccak256("GPU");

    /// @notice The FizzRegistry submitters must be registered in.
    address public immutable fizzRegistry;
    /// @notice The "CPU" category's ResourceRegistry.
    IResourceRegistry public immutable cpuResourceRegistry;
    /// @notice The "GPU" category's ResourceRegistry.
    IResourceRegistry public immutable gpuResourceRegistry;
    /// @notice When true, submissions are approved in the same transaction.
    bool public autoApproval;

    mapping(address => mapping(bytes32 => Attribute[])) private _approved;
    mapping(address => mapping(bytes32 => Attribute[])) private _pending;

    event FizzAttributesSubmitted(
        address indexed fizz, string category, uint256[] ids, uint256[] units
    );
    event FizzAttributesApproved(address indexed fizz, string category, Attribute[] attributes);
    event FizzAttributesRemoved(address indexed fizz, string category);

    /// @notice The caller is not a registered fizz node.
    error FizzNodeNotFound();
    /// @notice The category is neither "CPU" nor "GPU".
    error InvalidCategory(string category);
    /// @notice The arrays differ in length.
    error LengthMismatch();
    /// @notice Nothing to submit.
    error EmptyAttributes();
    /// @notice The id is not in the category's ResourceRegistry.
    error UnknownResource(string category, uint256 id);
    /// @notice The id appears twice in one submission.
    error DuplicateResource(uint256 id);
    /// @notice A claim of zero units.
    error ZeroUnits(uint256 id);
    /// @notice There is no pending claim to approve.
    error NoPendingAttributes(address fizz, string category);

    /// @param _fizzRegistry The FizzRegistry.
    /// @param _cpuResourceRegistry The CPU ResourceRegistry.
    /// @param _gpuResourceRegistry The GPU ResourceRegistry.
    /// @param _access The AccessControlManager.
    constructor(
        address _fizzRegistry,
        address _cpuResourceRegistry,
        address _gpuResourceRegistry,
        address _access
    ) AccessGuarded(_access) {
        if (
            _fizzRegistry == address(0) || _cpuResourceRegistry == address(0)
                || _gpuResourceRegistry == address(0)
        ) revert InvalidAddress();
        fizzRegistry = _fizzRegistry;
        cpuResourceRegistry = IResourceRegistry(_cpuResourceRegistry);
        gpuResourceRegistry = IResourceRegistry(_gpuResourceRegistry);
    }

    /// @notice Submits the caller's claim for `category`: `units[i]` of resource `ids[i]`.
    /// @dev Replaces any pending claim of that category; emits FizzAttributesSubmitted, then
    ///      FizzAttributesApproved when `autoApproval` is on.
    function submitAttributes(
        string calldata category,
        uint256[] calldata ids,
        uint256[] calldata units
    ) external {
        if (!IFizzRegistry(fizzRegistry).isRegisteredFizzNode(msg.sender)) {
            revert FizzNodeNotFound();
        }
        IResourceRegistry registry = registryFor(category);
        if (ids.length != units.length) revert LengthMismatch();
        if (ids.length == 0) revert EmptyAttributes();
        bytes32 key = keccak256(bytes(category));
        Attribute[] storage pending = _pending[msg.sender][key];
        delete _pending[msg.sender][key];
        for (uint256 i = 0; i < ids.length; i++) {
            (,,, bool exists) = registry.resources(ids[i]);
            if (!exists) revert UnknownResource(category, ids[i]);
            if (units[i] == 0) revert ZeroUnits(ids[i]);
            for (uint256 j = 0; j < i; j++) {
                if (ids[j] == ids[i]) revert DuplicateResource(ids[i]);
            }
            pending.push(Attribute(ids[i], units[i]));
        }
        emit FizzAttributesSubmitted(msg.sender, category, ids, units);
        if (autoApproval) _approve(msg.sender, category);
    }

    /// @notice Approves `fizz`'s pending claim for `category`. ADMIN_ROLE only.
    function approveAttributes(address fizz, string calldata category)
        external
        onlyRole(Roles.ADMIN_ROLE)
    {
        registryFor(category);
        _approve(fizz, category);
    }

    /// @notice Approves several pending claims (`fizzes[i]`, `categories[i]`). ADMIN_ROLE only.
    function batchApproveAttributes(address[] calldata fizzes, string[] calldata categories)
        external
        onlyRole(Roles.ADMIN_ROLE)
    {
        if (fizzes.length != categories.length) revert LengthMismatch();
        for (uint256 i = 0; i < fizzes.length; i++) {
            registryFor(categories[i]);
            _approve(fizzes[i], categories[i]);
        }
    }

    /// @notice Turns automatic approval on or off. ADMIN_ROLE only.
    function updateAutoApprovalState(bool state) external onlyRole(Roles.ADMIN_ROLE) {
        autoApproval = state;
    }

    /// @notice Withdraws the caller's claims (approved and pending) for `category`.
    function removeAttributes(string calldata category) external {
        registryFor(category);
        bytes32 key = keccak256(bytes(category));
        delete _approved[msg.sender][key];
        delete _pending[msg.sender][key];
        emit FizzAttributesRemoved(msg.sender, category);
    }

    /// @notice The approved claim of `fizz` for `category` (empty when none).
    function getAttributes(address fizz, string calldata category)
        external
        view
        returns (Attribute[] memory)
    {
        return _approved[fizz][keccak256(bytes(category))];
    }

    /// @notice The pending claim of `fizz` for `category` (empty when none).
    function getPendingAttributes(address fizz, string calldata category)
        external
        view
        returns (Attribute[] memory)
    {
        return _pending[fizz][keccak256(bytes(category))];
    }

    /// @notice The ResourceRegistry of `category`; reverts InvalidCategory.
    function registryFor(string calldata category) public view returns (IResourceRegistry) {
        bytes32 key = keccak256(bytes(category));
        if (key == CPU) return cpuResourceRegistry;
        if (key == GPU) return gpuResourceRegistry;
        revert InvalidCategory(category);
    }

    function _approve(address fizz, string calldata category) private {
        bytes32 key = keccak256(bytes(category));
        Attribute[] storage pending = _pending[fizz][key];
        if (pending.length == 0) revert NoPendingAttributes(fizz, category);
        Attribute[] storage approved = _approved[fizz][key];
        delete _approved[fizz][key];
        for (uint256 i = 0; i < pending.length; i++) {
            approved.push(pending[i]);
        }
        delete _pending[fizz][key];
        emit FizzAttributesApproved(fizz, category, approved);
    }
}
