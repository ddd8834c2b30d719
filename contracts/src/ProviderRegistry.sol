// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessGuarded} from "./base/AccessGuarded.sol";
import {Roles} from "./base/Roles.sol";
import {NodeStatus} from "./base/Types.sol";
import {IProviderRegistry} from "./interfaces/IProviderRegistry.sol";
import {ITokenRegistry} from "./interfaces/ITokenRegistry.sol";

/// @title ProviderRegistry
/// @notice Providers, which on the Fizz network are the gateways fizz nodes attach to.
/// @dev DEVNET SHAPE: the real ProviderRegistry ABI is not in our reference. Registration is
///      open (self-service): the caller becomes the provider's wallet. The devnet deployment
///      registers its reference gateway by sending `addProvider` from the gateway's account.
///      New providers start `Registered`; ADMIN_ROLE may change the status.
contract ProviderRegistry is IProviderRegistry, AccessGuarded {
    struct Provider {
        string spec;
        string hostUri;
        string certificate;
        address walletAddress;
        address[] paymentsAccepted;
        NodeStatus status;
        uint256 joinTimestamp;
    }

    /// @notice The TokenRegistry payment tokens are checked against.
    ITokenRegistry public immutable tokenRegistry;
    /// @notice The id the next provider gets (ids start at 1).
    uint256 public nextProviderId = 1;
    /// @notice Provider id of a wallet; 0 = not a provider.
    mapping(address => uint256) public addressToProviderId;

    mapping(uint256 => Provider) private _providers;

    /// @notice A provider joined.
    event ProviderAdded(
        uint256 indexed providerId, address indexed walletAddress, string spec, string hostUri
    );
    /// @notice A provider replaced its TLS certificate.
    event ProviderCertificateUpdated(uint256 indexed providerId);
    /// @notice A provider moved to a new host.
    event ProviderHostUriUpdated(uint256 indexed providerId, string hostUri);
    /// @notice The admin changed a provider's status.
    event ProviderStatusUpdated(uint256 indexed providerId, uint8 status);

    /// @notice The wallet is a provider already.
    error ProviderAlreadyRegistered(address walletAddress);
    /// @notice A payment token is not in the TokenRegistry.
    error UnregisteredToken();
    /// @notice The new status equals the current one.
    error StatusUnchanged();

    /// @param _tokenRegistry The TokenRegistry.
    /// @param _access The AccessControlManager.
    constructor(address _tokenRegistry, address _access) AccessGuarded(_access) {
        if (_tokenRegistry == address(0)) revert InvalidAddress();
        tokenRegistry = ITokenRegistry(_tokenRegistry);
    }

    /// @notice Registers the caller as a provider (gateway) and returns its id.
    /// @param spec Provider spec (the real network uses compressed JSON `{n,r,a}`).
    /// @param hostUri Host name or address the gateway is reached at.
    /// @param certificate The gateway's TLS certificate (PEM), may be empty.
    /// @param paymentsAccepted Payment tokens, each registered in the TokenRegistry.
    function addProvider(
        string calldata spec,
        string calldata hostUri,
        string calldata certificate,
        address[] calldata paymentsAccepted
    ) external returns (uint256 id) {
        if (addressToProviderId[msg.sender] != 0) revert ProviderAlreadyRegistered(msg.sender);
        for (uint256 i = 0; i < paymentsAccepted.length; i++) {
            if (!tokenRegistry.isTokenRegistered(paymentsAccepted[i])) revert UnregisteredToken();
        }
        id = nextProviderId++;
        Provider storage p = _providers[id];
        p.spec = spec;
        p.hostUri = hostUri;
        p.certificate = certificate;
        p.walletAddress = msg.sender;
        p.paymentsAccepted = paymentsAccepted;
        p.status = NodeStatus.Registered;
        p.joinTimestamp = block.timestamp;
        addressToProviderId[msg.sender] = id;
        emit ProviderAdded(id, msg.sender, spec, hostUri);
    }

    /// @notice Replaces the caller's certificate. Reverts ProviderNotFound for a non-provider.
    function updateCertificate(string calldata certificate) external {
        uint256 id = _callerId();
        _providers[id].certificate = certificate;
        emit ProviderCertificateUpdated(id);
    }

    /// @notice Replaces the caller's host URI. Reverts ProviderNotFound for a non-provider.
    function updateHostUri(string calldata hostUri) external {
        uint256 id = _callerId();
        _providers[id].hostUri = hostUri;
        emit ProviderHostUriUpdated(id, hostUri);
    }

    /// @notice Sets provider `id`'s status. ADMIN_ROLE only.
    function setProviderStatus(uint256 id, NodeStatus status) external onlyRole(Roles.ADMIN_ROLE) {
        Provider storage p = _existing(id);
        if (p.status == status) revert StatusUnchanged();
        p.status = status;
        emit ProviderStatusUpdated(id, uint8(status));
    }

    /// @notice Provider `id`; reverts ProviderNotFound.
    function getProvider(uint256 id)
        external
        view
        returns (
            string memory spec,
            string memory hostUri,
            string memory certificate,
            address walletAddress,
            address[] memory paymentsAccepted,
            uint8 status,
            uint256 joinTimestamp
        )
    {
        Provider storage p = _existing(id);
        return (
            p.spec,
            p.hostUri,
            p.certificate,
            p.walletAddress,
            p.paymentsAccepted,
            uint8(p.status),
            p.joinTimestamp
        );
    }

    /// @inheritdoc IProviderRegistry
    function getProviderStatus(uint256 id) external view returns (uint8) {
        return uint8(_existing(id).status);
    }

    /// @inheritdoc IProviderRegistry
    function isProviderRegistered(uint256 id) external view returns (bool) {
        return _providers[id].walletAddress != address(0);
    }

    function _existing(uint256 id) private view returns (Provider storage p) {
        p = _providers[id];
        if (p.walletAddress == address(0)) revert ProviderNotFound();
    }

    function _callerId() private view returns (uint256 id) {
        id = addressToProviderId[msg.sender];
        if (id == 0) revert ProviderNotFound();
    }
}
