// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessGuarded} from "./base/AccessGuarded.sol";
import {Roles} from "./base/Roles.sol";
import {NodeStatus} from "./base/Types.sol";
import {IProviderRegistry} from "./interfaces/IProviderRegistry.sol";
import {ITokenRegistry} from "./interfaces/ITokenRegistry.sol";

/// @title FizzRegistry
/// @notice The registry of fizz nodes: each wallet registers once, attached to one provider
///         (gateway), with a spec string, the payment tokens it accepts and a reward wallet.
/// @dev Function, event and error signatures follow the real network's FizzRegistry ABI
///      (spheron-network.md §3.2). Behaviour where the public record is silent:
///      - registration is open while `autoRegister` is on, else limited to whitelisted wallets;
///      - a new node is `Registered`; only ADMIN_ROLE changes status (there is no heartbeat);
///      - `Suspended` and `Deactivated` nodes cannot update themselves (InactiveFizzNode);
///      - `getFizz`, `getFizzNodeByAddress`, `getFizzId` and the reward-wallet views revert
///        FizzNodeNotFound for unknown nodes; `addressToFizzId` returns 0;
///      - `FizzUpdated` is emitted by the admin update functions, `FizzStatusUpdated` by
///        `setFizzStatus`; `adminAddFizzes(FizzInfo[])` is not implemented (its tuple is not
///        public); registration takes no fee, so `withdrawFees` only sweeps stray ether.
contract FizzRegistry is AccessGuarded {
    /// @notice What `addFizzNode` takes (the real network's tuple, field for field).
    struct FizzParams {
        uint256 providerId;
        string spec;
        address walletAddress;
        address[] paymentsAccepted;
        address rewardWallet;
    }

    /// @notice One row of `getAllFizzNodes`.
    struct FizzInfo {
        uint256 fizzId;
        uint256 providerId;
        string spec;
        address walletAddress;
        address[] paymentsAccepted;
        NodeStatus status;
        uint256 joinTimestamp;
        address rewardWallet;
    }

    struct FizzNode {
        uint256 providerId;
        string spec;
        address walletAddress;
        address[] paymentsAccepted;
        NodeStatus status;
        uint256 joinTimestamp;
        address rewardWallet;
    }

    /// @notice The ProviderRegistry a fizz's provider id must exist in.
    IProviderRegistry public immutable providerRegistry;
    /// @notice The TokenRegistry every accepted payment token must be registered in.
    ITokenRegistry public immutable tokenRegistry;
    /// @notice Receives `withdrawFees`.
    address public immutable treasury;

    /// @notice The id the next fizz node gets (ids start at 1 and are never reused).
    uint256 public nextFizzId = 1;
    /// @notice When true anyone may register; when false only whitelisted wallets.
    bool public autoRegister;
    /// @notice Fizz id of a wallet; 0 = not registered.
    mapping(address => uint256) public addressToFizzId;
    /// @notice Wallets allowed to register while `autoRegister` is off.
    mapping(address => bool) public whitelistedFizzes;

    mapping(uint256 => FizzNode) private _fizzes;
    mapping(address => address) private _fizzByRewardWallet;

    event FizzNodeAdded(
        uint256 indexed fizzId,
        address indexed walletAddress,
        uint256 providerId,
        string spec,
        address[] paymentsAccepted,
        uint8 status,
        uint256 joinTimestamp,
        address rewardWallet
    );
    event FizzNodeSpecUpdated(uint256 indexed fizzId, string spec);
    event FizzNodeProviderIdUpdated(uint256 indexed fizzId, uint256 providerId);
    event FizzStatusUpdated(uint256 indexed FizzId, uint8 status);
    event FizzUpdated(uint256 indexed fizzId, uint8 status);
    event FizzNodePaymentAdded(uint256 indexed fizzId, address indexed tokenAddress);
    event FizzNodePaymentRemoved(uint256 indexed fizzId, address indexed tokenAddress);
    event FizzNodeRemoved(uint256 indexed fizzId);
    event FizzAddressWhitelisted(address[] addresses);
    event AutoRegisterStatedUpdated(bool state);

    error FizzAlreadyRegistered();
    error FizzNodeNotFound();
    error InactiveFizzNode();
    error NotWhitelisted();
    /// @dev Part of the real interface; never raised here (registration is free).
    error RegistrationFeeNotPaid();
    error TokenNotFound();
    error UnregisteredToken();
    error TokenAlreadyAccepted();
    error StatusUnchanged();
    error AlreadySet();
    // InvalidAddress() comes from AccessGuarded.

    /// @param _providerRegistryAddress The ProviderRegistry.
    /// @param _tokenRegistryAddress The TokenRegistry.
    /// @param _treasury Receives swept fees.
    /// @param _access The AccessControlManager.
    constructor(
        address _providerRegistryAddress,
        address _tokenRegistryAddress,
        address _treasury,
        address _access
    ) AccessGuarded(_access) {
        if (
            _providerRegistryAddress == address(0) || _tokenRegistryAddress == address(0)
                || _treasury == address(0)
        ) revert InvalidAddress();
        providerRegistry = IProviderRegistry(_providerRegistryAddress);
        tokenRegistry = ITokenRegistry(_tokenRegistryAddress);
        treasury = _treasury;
    }

    // ----------------------------------------------------------------- node operations

    /// @notice Registers the caller as a fizz node.
    /// @dev Reverts InvalidAddress (caller is not `walletAddress`, or no reward wallet),
    ///      NotWhitelisted, FizzAlreadyRegistered, ProviderNotFound, UnregisteredToken,
    ///      TokenAlreadyAccepted (a token listed twice), in that order.
    function addFizzNode(FizzParams calldata params) external {
        if (msg.sender != params.walletAddress || params.rewardWallet == address(0)) {
            revert InvalidAddress();
        }
        if (!autoRegister && !whitelistedFizzes[msg.sender]) revert NotWhitelisted();
        if (addressToFizzId[msg.sender] != 0) revert FizzAlreadyRegistered();
        _requireProvider(params.providerId);
        _requirePaymentTokens(params.paymentsAccepted);

        uint256 id = nextFizzId++;
        FizzNode storage f = _fizzes[id];
        f.providerId = params.providerId;
        f.spec = params.spec;
        f.walletAddress = msg.sender;
        f.paymentsAccepted = params.paymentsAccepted;
        f.status = NodeStatus.Registered;
        f.joinTimestamp = block.timestamp;
        f.rewardWallet = params.rewardWallet;
        addressToFizzId[msg.sender] = id;
        _fizzByRewardWallet[params.rewardWallet] = msg.sender;

        emit FizzNodeAdded(
            id,
            msg.sender,
            params.providerId,
            params.spec,
            params.paymentsAccepted,
            uint8(NodeStatus.Registered),
            block.timestamp,
            params.rewardWallet
        );
    }

    /// @notice Replaces the caller's spec string.
    function updateFizzSpec(string calldata _spec) external {
        (uint256 id, FizzNode storage f) = _updatableCaller();
        f.spec = _spec;
        emit FizzNodeSpecUpdated(id, _spec);
    }

    /// @notice Moves the caller to provider (gateway) `_providerId`.
    function updateFizzProviderId(uint256 _providerId) external {
        (uint256 id, FizzNode storage f) = _updatableCaller();
        _setProvider(id, f, _providerId);
    }

    /// @notice Adds `_tokenAddress` to the tokens the caller accepts.
    function addAcceptedPayment(address _tokenAddress) external {
        (uint256 id, FizzNode storage f) = _updatableCaller();
        if (!tokenRegistry.isTokenRegistered(_tokenAddress)) revert UnregisteredToken();
        if (_indexOf(f.paymentsAccepted, _tokenAddress) != type(uint256).max) {
            revert TokenAlreadyAccepted();
        }
        f.paymentsAccepted.push(_tokenAddress);
        emit FizzNodePaymentAdded(id, _tokenAddress);
    }

    /// @notice Removes `_tokenAddress` from the tokens the caller accepts.
    function removeAcceptedPayment(address _tokenAddress) external {
        (uint256 id, FizzNode storage f) = _updatableCaller();
        uint256 i = _indexOf(f.paymentsAccepted, _tokenAddress);
        if (i == type(uint256).max) revert TokenNotFound();
        f.paymentsAccepted[i] = f.paymentsAccepted[f.paymentsAccepted.length - 1];
        f.paymentsAccepted.pop();
        emit FizzNodePaymentRemoved(id, _tokenAddress);
    }

    // ----------------------------------------------------------------- admin

    /// @notice Sets the status of fizz `_fizz` (a wallet). ADMIN_ROLE only.
    /// @dev A status outside the enum (> 5) fails ABI decoding (empty revert data).
    function setFizzStatus(address _fizz, NodeStatus _status) external onlyRole(Roles.ADMIN_ROLE) {
        uint256 id = addressToFizzId[_fizz];
        if (id == 0) revert FizzNodeNotFound();
        FizzNode storage f = _fizzes[id];
        if (f.status == _status) revert StatusUnchanged();
        f.status = _status;
        emit FizzStatusUpdated(id, uint8(_status));
    }

    /// @notice Allows `_addresses` to register while `autoRegister` is off. ADMIN_ROLE only.
    function addAddressesToWhitelist(address[] calldata _addresses)
        external
        onlyRole(Roles.ADMIN_ROLE)
    {
        for (uint256 i = 0; i < _addresses.length; i++) {
            if (_addresses[i] == address(0)) revert InvalidAddress();
            whitelistedFizzes[_addresses[i]] = true;
        }
        emit FizzAddressWhitelisted(_addresses);
    }

    /// @notice Turns open registration on or off. ADMIN_ROLE only.
    function updateAutoRegisterState(bool _state) external onlyRole(Roles.ADMIN_ROLE) {
        if (autoRegister == _state) revert AlreadySet();
        autoRegister = _state;
        emit AutoRegisterStatedUpdated(_state);
    }

    /// @notice Deletes fizz `_fizzId`; its wallet may register again. ADMIN_ROLE only.
    function removeFizzNode(uint256 _fizzId) external onlyRole(Roles.ADMIN_ROLE) {
        _remove(_fizzId);
    }

    /// @notice Deletes the fizz nodes of the wallets `_wallets`. ADMIN_ROLE only.
    function adminRemoveFizzes(address[] calldata _wallets) external onlyRole(Roles.ADMIN_ROLE) {
        for (uint256 i = 0; i < _wallets.length; i++) {
            uint256 id = addressToFizzId[_wallets[i]];
            if (id == 0) revert FizzNodeNotFound();
            _remove(id);
        }
    }

    /// @notice Replaces fizz `_fizzId`'s spec. ADMIN_ROLE only.
    function adminUpdateFizzSpec(uint256 _fizzId, string calldata _spec)
        external
        onlyRole(Roles.ADMIN_ROLE)
    {
        FizzNode storage f = _existing(_fizzId);
        f.spec = _spec;
        emit FizzNodeSpecUpdated(_fizzId, _spec);
        emit FizzUpdated(_fizzId, uint8(f.status));
    }

    /// @notice Moves fizz `_fizzId` to provider `_providerId`. ADMIN_ROLE only.
    function adminUpdateFizzProviderId(uint256 _fizzId, uint256 _providerId)
        external
        onlyRole(Roles.ADMIN_ROLE)
    {
        FizzNode storage f = _existing(_fizzId);
        _setProvider(_fizzId, f, _providerId);
        emit FizzUpdated(_fizzId, uint8(f.status));
    }

    /// @notice Sends this contract's ether balance to the treasury. ADMIN_ROLE only.
    function withdrawFees() external onlyRole(Roles.ADMIN_ROLE) {
        (bool ok,) = treasury.call{value: address(this).balance}("");
        if (!ok) revert InvalidAddress();
    }

    // ----------------------------------------------------------------- views

    /// @notice Fizz `_fizzId`; reverts FizzNodeNotFound.
    function getFizz(uint256 _fizzId)
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
        )
    {
        FizzNode storage f = _existing(_fizzId);
        return (
            f.providerId,
            f.spec,
            f.paymentsAccepted,
            uint8(f.status),
            f.joinTimestamp,
            f.walletAddress,
            f.rewardWallet
        );
    }

    /// @notice Fizz of wallet `_fizz`; reverts FizzNodeNotFound.
    function getFizzNodeByAddress(address _fizz)
        external
        view
        returns (
            uint256 providerId,
            string memory spec,
            address[] memory paymentsAccepted,
            uint8 status,
            uint256 joinTimestamp,
            address rewardWallet
        )
    {
        FizzNode storage f = _existing(addressToFizzId[_fizz]);
        return (
            f.providerId, f.spec, f.paymentsAccepted, uint8(f.status), f.joinTimestamp, f.rewardWallet
        );
    }

    /// @notice Fizz id of wallet `_fizz`; reverts FizzNodeNotFound (unlike `addressToFizzId`).
    function getFizzId(address _fizz) external view returns (uint256 id) {
        id = addressToFizzId[_fizz];
        if (id == 0) revert FizzNodeNotFound();
    }

    /// @notice True when `_fizz` is a registered fizz wallet.
    function isRegisteredFizzNode(address _fizz) external view returns (bool) {
        return addressToFizzId[_fizz] != 0;
    }

    /// @notice Status of wallet `_fizz` (0 = Unregistered when unknown).
    function getFizzNodeStatus(address _fizz) external view returns (uint8) {
        return uint8(_fizzes[addressToFizzId[_fizz]].status);
    }

    /// @notice True when fizz `_fizzId` has status Active (2).
    function isActiveFizzNode(uint256 _fizzId) external view returns (bool) {
        return _fizzes[_fizzId].walletAddress != address(0)
            && _fizzes[_fizzId].status == NodeStatus.Active;
    }

    /// @notice True when fizz `fizzId` exists and is attached to provider `providerId`.
    function isFizzLinked(uint256 fizzId, uint256 providerId) external view returns (bool) {
        return _fizzes[fizzId].walletAddress != address(0) && _fizzes[fizzId].providerId == providerId;
    }

    /// @notice True when fizz `_fizzId` accepts `_token`.
    function isTokenAcceptedByFizz(uint256 _fizzId, address _token) external view returns (bool) {
        return _indexOf(_fizzes[_fizzId].paymentsAccepted, _token) != type(uint256).max;
    }

    /// @notice Every registered fizz node, by ascending id (removed ones left out).
    function getAllFizzNodes() external view returns (FizzInfo[] memory all) {
        uint256 count = 0;
        for (uint256 id = 1; id < nextFizzId; id++) {
            if (_fizzes[id].walletAddress != address(0)) count++;
        }
        all = new FizzInfo[](count);
        uint256 n = 0;
        for (uint256 id = 1; id < nextFizzId; id++) {
            FizzNode storage f = _fizzes[id];
            if (f.walletAddress == address(0)) continue;
            all[n++] = FizzInfo({
                fizzId: id,
                providerId: f.providerId,
                spec: f.spec,
                walletAddress: f.walletAddress,
                paymentsAccepted: f.paymentsAccepted,
                status: f.status,
                joinTimestamp: f.joinTimestamp,
                rewardWallet: f.rewardWallet
            });
        }
    }

    /// @notice Reward wallet of fizz wallet `_fizz`; reverts FizzNodeNotFound.
    function getFizzNodeRewardWalletByAddress(address _fizz) external view returns (address) {
        return _existing(addressToFizzId[_fizz]).rewardWallet;
    }

    /// @notice Reward wallet of fizz `_fizzId`; reverts FizzNodeNotFound.
    function getFizzNodeRewardWalletById(uint256 _fizzId) external view returns (address) {
        return _existing(_fizzId).rewardWallet;
    }

    /// @notice The fizz wallet that most recently registered with `_rewardWallet` (0 if none).
    function getFizzAddressByRewardAddress(address _rewardWallet) external view returns (address) {
        return _fizzByRewardWallet[_rewardWallet];
    }

    /// @notice True when `_fizz` is whitelisted.
    function isWhitelisted(address _fizz) external view returns (bool) {
        return whitelistedFizzes[_fizz];
    }

    // ----------------------------------------------------------------- internals

    function _existing(uint256 id) private view returns (FizzNode storage f) {
        f = _fizzes[id];
        if (id == 0 || f.walletAddress == address(0)) revert FizzNodeNotFound();
    }

    function _updatableCaller() private view returns (uint256 id, FizzNode storage f) {
        id = addressToFizzId[msg.sender];
        if (id == 0) revert FizzNodeNotFound();
        f = _fizzes[id];
        if (f.status == NodeStatus.Suspended || f.status == NodeStatus.Deactivated) {
            revert InactiveFizzNode();
        }
    }

    function _setProvider(uint256 id, FizzNode storage f, uint256 providerId) private {
        if (f.providerId == providerId) revert AlreadySet();
        _requireProvider(providerId);
        f.providerId = providerId;
        emit FizzNodeProviderIdUpdated(id, providerId);
    }

    function _requireProvider(uint256 providerId) private view {
        if (!providerRegistry.isProviderRegistered(providerId)) {
            revert IProviderRegistry.ProviderNotFound();
        }
    }

    function _requirePaymentTokens(address[] calldata tokens) private view {
        for (uint256 i = 0; i < tokens.length; i++) {
            if (!tokenRegistry.isTokenRegistered(tokens[i])) revert UnregisteredToken();
            for (uint256 j = 0; j < i; j++) {
                if (tokens[j] == tokens[i]) revert TokenAlreadyAccepted();
            }
        }
    }

    function _remove(uint256 id) private {
        FizzNode storage f = _existing(id);
        address wallet = f.walletAddress;
        if (_fizzByRewardWallet[f.rewardWallet] == wallet) delete _fizzByRewardWallet[f.rewardWallet];
        delete addressToFizzId[wallet];
        delete _fizzes[id];
        emit FizzNodeRemoved(id);
    }

    function _indexOf(address[] storage list, address item) private view returns (uint256) {
        for (uint256 i = 0; i < list.length; i++) {
            if (list[i] == item) return i;
        }
        return type(uint256).max;
    }
}
