// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessGuarded} from "./base/AccessGuarded.sol";
import {Roles} from "./base/Roles.sol";
import {Attribute} from "./base/Types.sol";
import {IFizzAttributeRegistry} from "./interfaces/IFizzAttributeRegistry.sol";
import {IFizzRegistry} from "./interfaces/IFizzRegistry.sol";
import {IMintableToken} from "./interfaces/IMintableToken.sol";
import {IResourceRegistry} from "./interfaces/IResourceRegistry.sol";

/// @title FizzRewardsManager
/// @notice Fizz node rewards in SPON, counted per era: the off-chain liveness checker adds
///         pending rewards and slashes eras; a fizz's pending rewards are claimed to its
///         reward wallet.
/// @dev Signatures and events follow the real ABI (spheron-network.md §4.2) where it is given.
///      Choices where the public record is silent:
///      - `getFizzRewardsPerEra(fizz)` = sum over categories and approved attributes of
///        units x resource multiplier (18 decimals) x category baseReward / 1e18, in SPON wei
///        (e.g. 4 "gp" CPU units: 4 x 0.2 x 25 SPON = 20 SPON);
///      - rewards are minted on claim (this contract holds MINTER_ROLE on the reward token);
///      - anyone may call `claimRewards(fizz)`: the SPON always goes to the fizz's reward wallet
///        as registered in the FizzRegistry;
///      - a paused fizz neither accrues nor claims until unpaused; a denied fizz neither accrues
///        nor claims (its pending balance is kept, so denial is reversible);
///      - a slash removes `percentage` % of one era's reward from the pending balance (never
///        more than is pending) and is recorded per era; `removeSlashErasForFizzes` undoes
///        the recorded slashes, giving the amounts back.
contract FizzRewardsManager is AccessGuarded {
    /// @notice A reward category: its attribute category name, ResourceRegistry and the reward
    ///         for one unit of multiplier 1 per era (SPON wei, 18 decimals).
    struct Category {
        string name;
        address registry;
        uint256 baseReward;
    }

    struct FizzState {
        address fizz;
        uint256 lastClaimedEra;
        bool denied;
        uint256 slashedEras;
        bool isPaused;
        uint256 pausedEra;
        uint256 accumulatedRewardsBeforePause;
    }

    /// @notice One recorded slash.
    struct SlashedEra {
        uint256 era;
        uint256 slashedAmount;
    }

    /// @notice The role allowed to record rewards and slashes.
    bytes32 public constant SLASHER_ROLE = Roles.SLASHER_ROLE;

    /// @notice Where approved resource claims are read.
    IFizzAttributeRegistry public immutable fizzAttributeRegistry;
    /// @notice The SPON token minted on claim.
    IMintableToken public immutable rewardToken;
    /// @notice The FizzRegistry (taken from the attribute registry): reward wallets.
    IFizzRegistry public immutable fizzRegistry;

    /// @notice Start of era 0 (unix seconds).
    uint256 public genesisTimestamp;
    /// @notice Length of an era in seconds (24 h unless the admin changes it).
    uint256 public eraSeconds = 1 days;

    /// @notice The reward categories.
    Category[] public categories;
    /// @notice Rewards a fizz may claim now (SPON wei).
    mapping(address => uint256) public pendingRewards;

    mapping(address => FizzState) private _states;
    mapping(address => uint256) private _accumulated;
    mapping(address => SlashedEra[]) private _slashes;
    mapping(address => mapping(uint256 => bool)) private _eraSlashed;

    event FizzRewardClaimed(address indexed fizz, uint256 rewardAmount);
    event FizzSlashed(address indexed fizz, uint256 era, uint256 slashedAmount, uint8 percentage);
    event FizzPendingRewardsAdded(address indexed fizz, uint256 amount);
    event FizzPendingRewardsUpdated(address indexed fizz, uint256 amount);
    event FizzPaused(address indexed fizz, uint256 pausedEra);
    event FizzUnpaused(address indexed fizz, uint256 unpausedEra);
    event FizzDenialUpdated(address indexed fizz, bool denied);
    event CategoryAdded(uint256 indexed index, string name, address registry, uint256 baseReward);
    event EraConfigUpdated(uint256 genesisTimestamp, uint256 eraSeconds);

    /// @notice The fizz is not registered in the FizzRegistry.
    error FizzNodeNotFound();
    /// @notice Nothing to claim.
    error NoPendingRewards(address fizz);
    /// @notice The fizz is denied rewards.
    error FizzDenied(address fizz);
    /// @notice The fizz's rewards are paused.
    error FizzRewardsPaused(address fizz);
    /// @notice The fizz's rewards are not paused.
    error FizzRewardsNotPaused(address fizz);
    /// @notice The arrays differ in length.
    error LengthMismatch();
    /// @notice A slash percentage above 100.
    error InvalidPercentage(uint8 percentage);
    /// @notice A slash for an era that has not started.
    error InvalidEra(uint256 era);
    /// @notice That era of that fizz is slashed already.
    error EraAlreadySlashed(address fizz, uint256 era);
    /// @notice Era length 0, or a genesis in the future.
    error InvalidEraConfig();

    /// @param _fizzAttributeRegistry The FizzAttributeRegistry.
    /// @param _rewardToken The SPON token (this contract needs MINTER_ROLE on it).
    /// @param _access The AccessControlManager.
    constructor(address _fizzAttributeRegistry, address _rewardToken, address _access)
        AccessGuarded(_access)
    {
        if (_fizzAttributeRegistry == address(0) || _rewardToken == address(0)) {
            revert InvalidAddress();
        }
        fizzAttributeRegistry = IFizzAttributeRegistry(_fizzAttributeRegistry);
        rewardToken = IMintableToken(_rewardToken);
        fizzRegistry = IFizzRegistry(IFizzAttributeRegistry(_fizzAttributeRegistry).fizzRegistry());
        genesisTimestamp = block.timestamp;
    }

    // ----------------------------------------------------------------- configuration

    /// @notice Sets era 0's start and the era length. ADMIN_ROLE only.
    function setEraConfig(uint256 _genesisTimestamp, uint256 _eraSeconds)
        external
        onlyRole(Roles.ADMIN_ROLE)
    {
        if (_eraSeconds == 0 || _genesisTimestamp > block.timestamp) revert InvalidEraConfig();
        genesisTimestamp = _genesisTimestamp;
        eraSeconds = _eraSeconds;
        emit EraConfigUpdated(_genesisTimestamp, _eraSeconds);
    }

    /// @notice Adds a reward category. ADMIN_ROLE only.
    /// @param name The attribute category ("CPU" or "GPU").
    /// @param registry That category's ResourceRegistry.
    /// @param baseReward SPON wei per unit of multiplier 1 per era (25 SPON = 25e18).
    function addCategory(string calldata name, address registry, uint256 baseReward)
        external
        onlyRole(Roles.ADMIN_ROLE)
    {
        if (registry == address(0)) revert InvalidAddress();
        categories.push(Category(name, registry, baseReward));
        emit CategoryAdded(categories.length - 1, name, registry, baseReward);
    }

    // ----------------------------------------------------------------- settlement

    /// @notice Adds `_amounts[i]` SPON wei to the pending rewards of `_fizzes[i]`.
    ///         SLASHER_ROLE or ADMIN_ROLE.
    function addFizzPendingRewards(address[] calldata _fizzes, uint256[] calldata _amounts)
        external
    {
        _checkEitherRole(Roles.SLASHER_ROLE, Roles.ADMIN_ROLE);
        if (_fizzes.length != _amounts.length) revert LengthMismatch();
        for (uint256 i = 0; i < _fizzes.length; i++) {
            address fizz = _fizzes[i];
            FizzState storage s = _touch(fizz);
            if (s.denied) revert FizzDenied(fizz);
            if (s.isPaused) revert FizzRewardsPaused(fizz);
            pendingRewards[fizz] += _amounts[i];
            _accumulated[fizz] += _amounts[i];
            emit FizzPendingRewardsAdded(fizz, _amounts[i]);
        }
    }

    /// @notice Slashes `_slashedPercentage[i]` % of one era's reward of `_fizzez[i]` for era
    ///         `_eras[i]` from its pending rewards. SLASHER_ROLE only.
    function setSlashErasForFizzNodes(
        address[] calldata _fizzez,
        uint256[] calldata _eras,
        uint8[] calldata _slashedPercentage
    ) external onlyRole(Roles.SLASHER_ROLE) {
        if (_fizzez.length != _eras.length || _fizzez.length != _slashedPercentage.length) {
            revert LengthMismatch();
        }
        uint256 current = getCurrentEra();
        for (uint256 i = 0; i < _fizzez.length; i++) {
            address fizz = _fizzez[i];
            uint256 era = _eras[i];
            uint8 percentage = _slashedPercentage[i];
            if (percentage > 100) revert InvalidPercentage(percentage);
            if (era > current) revert InvalidEra(era);
            if (_eraSlashed[fizz][era]) revert EraAlreadySlashed(fizz, era);
            uint256 amount = getFizzRewardsPerEra(fizz) * percentage / 100;
            uint256 pending = pendingRewards[fizz];
            if (amount > pending) amount = pending;
            pendingRewards[fizz] = pending - amount;
            _eraSlashed[fizz][era] = true;
            _slashes[fizz].push(SlashedEra(era, amount));
            _touch(fizz).slashedEras += 1;
            emit FizzSlashed(fizz, era, amount, percentage);
            emit FizzPendingRewardsUpdated(fizz, pending - amount);
        }
    }

    /// @notice Forgets the recorded slashes of each fizz and gives the slashed amounts back to
    ///         its pending rewards. SLASHER_ROLE only.
    function removeSlashErasForFizzes(address[] calldata _fizzez)
        external
        onlyRole(Roles.SLASHER_ROLE)
    {
        for (uint256 i = 0; i < _fizzez.length; i++) {
            address fizz = _fizzez[i];
            SlashedEra[] storage slashes = _slashes[fizz];
            uint256 restored = 0;
            for (uint256 j = 0; j < slashes.length; j++) {
                restored += slashes[j].slashedAmount;
                delete _eraSlashed[fizz][slashes[j].era];
            }
            delete _slashes[fizz];
            _touch(fizz).slashedEras = 0;
            pendingRewards[fizz] += restored;
            emit FizzPendingRewardsUpdated(fizz, pendingRewards[fizz]);
        }
    }

    /// @notice Pauses the rewards of each fizz (no accrual, no claim). SLASHER_ROLE or ADMIN_ROLE.
    function pauseRewardsForFizzNodes(address[] calldata _fizzez) external {
        _checkEitherRole(Roles.SLASHER_ROLE, Roles.ADMIN_ROLE);
        uint256 current = getCurrentEra();
        for (uint256 i = 0; i < _fizzez.length; i++) {
            FizzState storage s = _touch(_fizzez[i]);
            if (s.isPaused) revert FizzRewardsPaused(_fizzez[i]);
            s.isPaused = true;
            s.pausedEra = current;
            s.accumulatedRewardsBeforePause = pendingRewards[_fizzez[i]];
            emit FizzPaused(_fizzez[i], current);
        }
    }

    /// @notice Resumes the rewards of each fizz. SLASHER_ROLE or ADMIN_ROLE.
    function unpauseRewardsForFizzNodes(address[] calldata _fizzez) external {
        _checkEitherRole(Roles.SLASHER_ROLE, Roles.ADMIN_ROLE);
        uint256 current = getCurrentEra();
        for (uint256 i = 0; i < _fizzez.length; i++) {
            FizzState storage s = _touch(_fizzez[i]);
            if (!s.isPaused) revert FizzRewardsNotPaused(_fizzez[i]);
            s.isPaused = false;
            emit FizzUnpaused(_fizzez[i], current);
        }
    }

    /// @notice Denies (true) or re-allows (false) rewards per fizz. ADMIN_ROLE only.
    function setDenied(address[] calldata _fizzez, bool[] calldata _denied)
        external
        onlyRole(Roles.ADMIN_ROLE)
    {
        if (_fizzez.length != _denied.length) revert LengthMismatch();
        for (uint256 i = 0; i < _fizzez.length; i++) {
            _touch(_fizzez[i]).denied = _denied[i];
            emit FizzDenialUpdated(_fizzez[i], _denied[i]);
        }
    }

    /// @notice Pays `_fizz`'s pending rewards (minted SPON) to its reward wallet.
    /// @dev Anyone may call; the destination is always the registered reward wallet.
    function claimRewards(address _fizz) external {
        if (!fizzRegistry.isRegisteredFizzNode(_fizz)) revert FizzNodeNotFound();
        FizzState storage s = _touch(_fizz);
        if (s.denied) revert FizzDenied(_fizz);
        if (s.isPaused) revert FizzRewardsPaused(_fizz);
        uint256 amount = pendingRewards[_fizz];
        if (amount == 0) revert NoPendingRewards(_fizz);
        pendingRewards[_fizz] = 0;
        s.lastClaimedEra = getCurrentEra();
        rewardToken.mint(fizzRegistry.getFizzNodeRewardWalletByAddress(_fizz), amount);
        emit FizzRewardClaimed(_fizz, amount);
    }

    // ----------------------------------------------------------------- views

    /// @notice The era now: (block.timestamp - genesisTimestamp) / eraSeconds.
    function getCurrentEra() public view returns (uint256) {
        return (block.timestamp - genesisTimestamp) / eraSeconds;
    }

    /// @notice One era's full reward of `_fizz` in SPON wei, from its approved attributes.
    function getFizzRewardsPerEra(address _fizz) public view returns (uint256) {
        uint256 total = 0;
        for (uint256 c = 0; c < categories.length; c++) {
            Category storage category = categories[c];
            Attribute[] memory attributes =
                fizzAttributeRegistry.getAttributes(_fizz, category.name);
            for (uint256 i = 0; i < attributes.length; i++) {
                (,, uint256 multiplier) =
                    IResourceRegistry(category.registry).getResource(attributes[i].id);
                total += attributes[i].units * multiplier * category.baseReward;
            }
        }
        return total / 1e18;
    }

    /// @notice Everything ever added to `_fizz`'s pending rewards (slashes not subtracted).
    function getAccRewardsForFizz(address _fizz) external view returns (uint256) {
        return _accumulated[_fizz];
    }

    /// @notice True when `_fizz` is denied rewards.
    function isDenied(address _fizz) external view returns (bool) {
        return _states[_fizz].denied;
    }

    /// @notice True when `_fizz`'s rewards are paused.
    function isPausedFizz(address _fizz) external view returns (bool) {
        return _states[_fizz].isPaused;
    }

    /// @notice The reward state of `_fizz` (`fizz` is zero until the manager first saw it).
    function getFizz(address _fizz)
        external
        view
        returns (
            address fizz,
            uint256 lastClaimedEra,
            bool denied,
            uint256 slashedEras,
            bool isPaused,
            uint256 pausedEra,
            uint256 accumulatedRewardsBeforePause
        )
    {
        FizzState storage s = _states[_fizz];
        return (
            s.fizz,
            s.lastClaimedEra,
            s.denied,
            s.slashedEras,
            s.isPaused,
            s.pausedEra,
            s.accumulatedRewardsBeforePause
        );
    }

    /// @notice The recorded slashes of `_fizz`.
    function getFizzSlashedEras(address _fizz) external view returns (SlashedEra[] memory) {
        return _slashes[_fizz];
    }

    /// @notice How many reward categories there are.
    function categoryCount() external view returns (uint256) {
        return categories.length;
    }

    function _touch(address fizz) private returns (FizzState storage s) {
        s = _states[fizz];
        if (s.fizz == address(0)) s.fizz = fizz;
    }
}
