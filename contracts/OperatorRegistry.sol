// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {OperatorSets} from "./core/OperatorSets.sol";
import {BN254} from "./libraries/BN254.sol";
import {ProtocolHashes} from "./libraries/ProtocolHashes.sol";

/// @title OperatorRegistry
/// @notice Operators: registration with stake, BLS keys and a proof of possession; stake changes,
///         unbonding withdrawals, leaving, ejection, key rotation, slashing (see
///         `docs/contracts/OperatorRegistry.md`).
/// @dev    A stateless module: the attestation center delegates these functions to it, so they run
///         on the center's storage (`CenterStorage`) and are called at the center's address through
///         the `IAttestationCenter` ABI. Deployed once, it can serve any number of centers.
contract OperatorRegistry is OperatorSets {
    using SafeERC20 for IERC20;

    uint256 public constant MAX_ENDPOINT_LENGTH = 256;

    // ------------------------------------------------------------------------------------------
    // Operators
    // ------------------------------------------------------------------------------------------

    /// @notice Registers the caller as an operator with `stake` of the stake token (approved to the
    ///         center beforehand) and a BLS key pair. `proofOfPossession` is the key's signature over
    ///         `ProtocolHashes.popHash(caller, center, chainid, pkG1, pkG2)`.
    function registerOperator(
        uint256 stake,
        BN254.G1Point calldata pkG1,
        BN254.G2Point calldata pkG2,
        BN254.G1Point calldata proofOfPossession
    ) external onlyDelegated nonReentrant returns (uint32 id) {
        _requireFlow(FLOW_REGISTRATIONS);
        Account storage account = _accounts[msg.sender];
        if (account.active) revert AlreadyRegistered(msg.sender, account.operatorId);
        if (stake < _config.minimumStake) revert StakeBelowMinimum(stake, _config.minimumStake);
        _checkTotalStake(stake);
        if (_activeIds.length >= _config.maxOperators) revert OperatorLimitReached(_config.maxOperators);
        bytes32 keyHash = _checkNewKey(pkG1, pkG2, proofOfPossession);

        id = ++_lastOperatorId;
        _opState[id] = OperatorState({stake: uint96(stake), debit: 0, status: STATUS_ACTIVE});
        _opInfo[id] = OperatorInfo({account: msg.sender, registeredAtBlock: uint40(block.number), exitedAtBlock: 0});
        _pkG1[id] = pkG1;
        _pkG2[id] = pkG2;
        _keys[keyHash] = _newKeyRecord(id);
        account.operatorId = id;
        account.active = true;
        _activeIds.push(id);
        _activeIndex[id] = _activeIds.length;

        Change memory change;
        change.id = id;
        change.account = msg.sender;
        change.isActive = true;
        change.newStake = uint96(stake);
        change.newKey = pkG1;
        _applyChange(change);

        IERC20(_stakeToken).safeTransferFrom(msg.sender, address(this), stake);
        emit OperatorRegistered(id, msg.sender, stake, pkG1, pkG2);
    }

    /// @notice Adds `amount` (approved to the center) to the caller's stake and voting power.
    function increaseStake(uint256 amount) external onlyDelegated nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint32 id = _activeIdOf(msg.sender);
        _checkTotalStake(amount);
        uint256 newStake = uint256(_opState[id].stake) + amount;
        _changeStake(id, uint96(newStake));
        IERC20(_stakeToken).safeTransferFrom(msg.sender, address(this), amount);
        emit StakeIncreased(id, amount, newStake);
    }

    /// @notice Moves `amount` out of the caller's voting power into a withdrawal that unlocks after
    ///         the unbonding delay. The stake left must stay at or above the minimum: to take
    ///         everything out, `leave`.
    function requestWithdrawal(uint256 amount) external onlyDelegated {
        if (amount == 0) revert ZeroAmount();
        uint32 id = _activeIdOf(msg.sender);
        uint256 stake = _opState[id].stake;
        if (amount > stake || stake - amount < _config.minimumStake) {
            revert StakeBelowMinimum(amount > stake ? 0 : stake - amount, _config.minimumStake);
        }
        _changeStake(id, uint96(stake - amount));
        uint64 unlockBlock = _queueWithdrawal(msg.sender, amount);
        emit WithdrawalRequested(id, msg.sender, amount, stake - amount, unlockBlock);
    }

    /// @notice Pays the caller's unlocked withdrawal to `to`.
    function withdraw(address to) external onlyDelegated nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        Withdrawal memory pending = _withdrawals[msg.sender];
        if (pending.amount == 0) revert NothingToWithdraw(msg.sender);
        if (block.number < pending.unlockBlock) revert WithdrawalLocked(pending.unlockBlock, block.number);
        delete _withdrawals[msg.sender];
        IERC20(_stakeToken).safeTransfer(to, pending.amount);
        emit Withdrawn(msg.sender, to, pending.amount);
    }

    /// @notice Deactivates the caller's operator id for good; its whole stake starts unbonding and
    ///         its BLS key is retired (it answers for no task that lands afterwards). Rewards already
    ///         earned stay claimable. Registering again gives a new id.
    function leave() external onlyDelegated {
        uint32 id = _activeIdOf(msg.sender);
        _exit(id);
        emit OperatorLeft(id, msg.sender);
    }

    /// @notice Removes an operator (EJECTOR_ROLE or the admin); as `leave`, on its behalf.
    function ejectOperator(uint32 operatorId) external onlyDelegated {
        if (!hasRole(EJECTOR_ROLE, msg.sender)) _checkRole(DEFAULT_ADMIN_ROLE);
        if (_opInfo[operatorId].account == address(0)) revert UnknownOperator(operatorId);
        if (_opState[operatorId].status != STATUS_ACTIVE) revert OperatorNotActive(operatorId);
        address account = _exit(operatorId);
        emit OperatorEjected(operatorId, account, msg.sender);
    }

    /// @notice Replaces the caller's BLS key pair (with a proof of possession of the new one). The old
    ///         key stays on record as the caller's, retired: it answers for the tasks that landed
    ///         while it was current, and for none after.
    function updateBlsKey(
        BN254.G1Point calldata pkG1,
        BN254.G2Point calldata pkG2,
        BN254.G1Point calldata proofOfPossession
    ) external onlyDelegated {
        uint32 id = _activeIdOf(msg.sender);
        bytes32 keyHash = _checkNewKey(pkG1, pkG2, proofOfPossession);
        _retireKey(id);
        _keys[keyHash] = _newKeyRecord(id);

        Change memory change = _snapshot(id);
        change.newKey = pkG1;
        change.keyChanged = true;
        _pkG1[id] = pkG1;
        _pkG2[id] = pkG2;
        _applyChange(change);
        emit BlsKeyUpdated(id, pkG1, pkG2);
    }

    /// @notice Publishes the URL where the caller's attester node listens, for aggregators to find.
    function setOperatorEndpoint(string calldata endpoint) external onlyDelegated {
        uint32 id = _activeIdOf(msg.sender);
        if (bytes(endpoint).length > MAX_ENDPOINT_LENGTH) {
            revert EndpointTooLong(bytes(endpoint).length, MAX_ENDPOINT_LENGTH);
        }
        _endpoint[id] = endpoint;
        emit OperatorEndpointUpdated(id, endpoint);
    }

    /// @notice Slashes the account behind `operatorId` (SLASHER_ROLE: the PenaltyManager).
    /// @dev    Takes `slashBps` of the account's active stake plus its unbonding withdrawal, active
    ///         stake first; pays `reporterBps` (at most 5,000: half) of it to `reporter` and the rest
    ///         to the treasury. An operator left below the minimum stake is ejected (its key retired,
    ///         its rest unbonding, where a later slash can still reach it).
    function slashOperator(uint32 operatorId, uint16 slashBps, uint16 reporterBps, address reporter)
        external
        onlyDelegated
        onlyRole(SLASHER_ROLE)
        nonReentrant
        returns (uint256 slashed)
    {
        if (slashBps > 10_000) revert InvalidSlashBps(slashBps, reporterBps);
        if (reporterBps > MAX_REPORTER_BPS) revert ReporterShareTooLarge(reporterBps, MAX_REPORTER_BPS);
        address account = _opInfo[operatorId].account;
        if (account == address(0)) revert UnknownOperator(operatorId);
        Account memory acc = _accounts[account];
        uint256 activeStake = acc.active ? _opState[acc.operatorId].stake : 0;
        Withdrawal storage pending = _withdrawals[account];
        slashed = (activeStake + pending.amount) * slashBps / 10_000;
        uint256 fromStake = slashed < activeStake ? slashed : activeStake;
        if (fromStake > 0) {
            uint256 left = activeStake - fromStake;
            _changeStake(acc.operatorId, uint96(left));
            if (left < _config.minimumStake) {
                _exit(acc.operatorId);
                emit OperatorEjected(acc.operatorId, account, msg.sender);
            }
        }
        if (slashed > fromStake) pending.amount -= uint96(slashed - fromStake);

        uint256 reporterReward = reporter == address(0) ? 0 : slashed * reporterBps / 10_000;
        if (reporterReward > 0) IERC20(_stakeToken).safeTransfer(reporter, reporterReward);
        if (slashed > reporterReward) IERC20(_stakeToken).safeTransfer(_treasury, slashed - reporterReward);
        emit OperatorSlashed(operatorId, account, slashed, reporter, reporterReward);
    }

    /// @notice Minimum stake, operator limit and unbonding delay (admin). A lower limit or a higher
    ///         minimum applies to what comes next: nobody already registered is removed by it. The
    ///         delay must stay strictly longer than every definition's dispute period, and long
    ///         enough that a withdrawal requested now unlocks after every dispute period that a
    ///         definition update replaced has run out for the tasks landed under it; otherwise a
    ///         withdrawal could escape a penalty still being proven.
    function setRegistryConfig(RegistryConfig calldata config) external onlyDelegated onlyRole(DEFAULT_ADMIN_ROLE) {
        if (config.maxOperators == 0 || config.maxOperators > type(uint16).max || config.minimumStake == 0) {
            revert InvalidRegistryConfig();
        }
        uint64 delay = config.unbondingDelayBlocks;
        uint32 definitions = _definitionCount;
        for (uint32 id; id < definitions; ++id) {
            uint64 dispute = _defCold[uint16(id)].disputePeriodBlocks;
            if (dispute >= delay) revert DisputePeriodNotBelowUnbondingDelay(dispute, delay);
        }
        uint64 openUntil = _supersededDisputesOpenUntil;
        if (block.number + delay <= openUntil) revert SupersededDisputePeriodStillOpen(openUntil, delay);
        _config = config;
        emit RegistryConfigUpdated(config);
    }

    /// @notice Where slashed stake goes, beyond the reporter's share (admin).
    function setTreasury(address treasury_) external onlyDelegated onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert ZeroAddress();
        _treasury = treasury_;
        emit TreasuryUpdated(treasury_);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    function stakeToken() external view returns (address) {
        return _stakeToken;
    }

    function registryConfig() external view returns (RegistryConfig memory) {
        return _config;
    }

    function treasury() external view returns (address) {
        return _treasury;
    }

    function operatorCount() external view returns (uint32 registered, uint32 active) {
        return (_lastOperatorId, uint32(_activeIds.length));
    }

    function operatorIdOf(address account) external view returns (uint32) {
        return _accounts[account].operatorId;
    }

    function isActiveOperator(address account) external view returns (bool) {
        return _accounts[account].active;
    }

    function getOperator(uint32 operatorId) external view returns (OperatorView memory) {
        OperatorInfo memory info = _opInfo[operatorId];
        if (info.account == address(0)) revert UnknownOperator(operatorId);
        OperatorState memory state = _opState[operatorId];
        return OperatorView({
            id: operatorId,
            account: info.account,
            active: state.status == STATUS_ACTIVE,
            stake: state.stake,
            registeredAtBlock: info.registeredAtBlock,
            exitedAtBlock: info.exitedAtBlock,
            pkG1: _pkG1[operatorId],
            pkG2: _pkG2[operatorId],
            endpoint: _endpoint[operatorId]
        });
    }

    function activeOperatorIds() external view returns (uint32[] memory) {
        return _activeIds;
    }

    function pendingWithdrawal(address account) external view returns (uint96 amount, uint64 unlockBlock) {
        Withdrawal memory pending = _withdrawals[account];
        return (pending.amount, pending.unlockBlock);
    }

    function keyOwner(BN254.G2Point calldata pkG2)
        external
        view
        returns (uint32 operatorId, uint40 addedAtBlock, uint40 retiredAtBlock)
    {
        KeyRecord memory record = _keys[keccak256(abi.encode(pkG2))];
        return (record.operatorId, record.addedAtBlock, record.retiredAtBlock);
    }

    function keyRecord(BN254.G2Point calldata pkG2) external view returns (KeyView memory) {
        KeyRecord memory record = _keys[keccak256(abi.encode(pkG2))];
        return KeyView({
            operatorId: record.operatorId,
            account: _opInfo[record.operatorId].account,
            addedAtBlock: record.addedAtBlock,
            retiredAtBlock: record.retiredAtBlock,
            addedAtTaskCount: record.addedAtTaskCount,
            retiredAtTaskCount: record.retiredAtTaskCount
        });
    }

    function getOperatorSet(uint32 setId) external view returns (OperatorSetView memory) {
        SetConfig memory config = _setConfig[setId];
        if (!config.exists) revert UnknownOperatorSet(setId);
        SetState memory state = _sets[setId];
        return OperatorSetView({
            id: setId,
            restricted: config.restricted,
            retired: config.retired,
            minimumStake: config.minimumStake,
            totalPower: state.totalPower,
            memberCount: state.memberCount,
            apkG1: _setApk[setId],
            rewardIndex: state.rewardIndex
        });
    }

    function operatorSetMembers(uint32 setId) external view returns (uint32[] memory ids, uint96[] memory stakes) {
        return _setMembers(setId);
    }

    function isSetMember(uint32 setId, uint32 operatorId) external view returns (bool) {
        return _membership[setId][operatorId].member;
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev Every set's members are active operators, so set 0's total bounds every set's: keeping
    ///      it within uint96 keeps all totals (and each stake) exact.
    function _checkTotalStake(uint256 added) internal view {
        uint256 total = uint256(_sets[0].totalPower) + added;
        if (total > type(uint96).max) revert StakeTooLarge(total);
    }

    function _activeIdOf(address account) internal view returns (uint32) {
        Account memory acc = _accounts[account];
        if (!acc.active) revert NotRegistered(account);
        return acc.operatorId;
    }

    /// @dev A valid key pair, never registered before, with a proof of possession bound to the
    ///      caller, this center and this chain. Returns the key's record id, keccak256(pkG2).
    function _checkNewKey(BN254.G1Point calldata pkG1, BN254.G2Point calldata pkG2, BN254.G1Point calldata proof)
        internal
        view
        returns (bytes32 keyHash)
    {
        if (!BN254.isOnCurve(pkG1) || BN254.isInfinity(pkG1) || BN254.isInfinity(pkG2)) revert InvalidPublicKey();
        keyHash = keccak256(abi.encode(pkG2));
        uint32 owner = _keys[keyHash].operatorId;
        if (owner != 0) revert KeyAlreadyRegistered(owner);
        bytes32 digest = ProtocolHashes.popHash(msg.sender, address(this), block.chainid, pkG1, pkG2);
        // verifyBound also proves that pkG1 and pkG2 hold one secret; the pairing precompile rejects
        // a G2 point off the twist or outside the subgroup (BN254.PairingFailed).
        if (!BN254.verifyBound(digest, pkG1, pkG2, proof)) revert InvalidProofOfPossession();
    }

    function _changeStake(uint32 id, uint96 newStake) internal {
        Change memory change = _snapshot(id);
        change.newStake = newStake;
        _opState[id].stake = newStake;
        _applyChange(change);
    }

    /// @dev The record of a key that becomes `id`'s now: it answers for the tasks that land from here.
    function _newKeyRecord(uint32 id) internal view returns (KeyRecord memory) {
        return KeyRecord({
            operatorId: id,
            addedAtBlock: uint40(block.number),
            retiredAtBlock: 0,
            addedAtTaskCount: _sets[0].taskCount,
            retiredAtTaskCount: 0
        });
    }

    /// @dev Ends the answerability of `id`'s current key: it stays on record as the operator's for
    ///      the tasks that landed up to now, and for none that land later.
    function _retireKey(uint32 id) internal {
        KeyRecord storage record = _keys[keccak256(abi.encode(_pkG2[id]))];
        record.retiredAtBlock = uint40(block.number);
        record.retiredAtTaskCount = _sets[0].taskCount;
    }

    /// @dev Deactivates `id`: it leaves every set (its attester rewards settle into the account's
    ///      credit, minus what it forfeited as a non-signer), its key is retired and its stake starts
    ///      unbonding.
    function _exit(uint32 id) internal returns (address account) {
        Change memory change = _snapshot(id);
        account = change.account;
        change.isActive = false;
        change.newStake = 0;
        OperatorState storage state = _opState[id];
        uint96 stake = state.stake;
        state.status = STATUS_EXITED;
        state.stake = 0;
        _opInfo[id].exitedAtBlock = uint40(block.number);
        _retireKey(id);

        uint256 position = _activeIndex[id];
        uint32 last = _activeIds[_activeIds.length - 1];
        _activeIds[position - 1] = last;
        _activeIndex[last] = position;
        _activeIds.pop();
        delete _activeIndex[id];

        _applyChange(change);
        Account storage acc = _accounts[account];
        acc.credit -= state.debit;
        acc.active = false;
        uint16 aggregatorPosition = acc.aggregatorPosition;
        if (aggregatorPosition != 0) _removeAggregator(account, id, aggregatorPosition);
        if (stake > 0) _queueWithdrawal(account, stake);
    }

    function _queueWithdrawal(address account, uint256 amount) internal returns (uint64 unlockBlock) {
        Withdrawal storage pending = _withdrawals[account];
        unlockBlock = uint64(block.number) + _config.unbondingDelayBlocks;
        pending.amount += uint96(amount);
        pending.unlockBlock = unlockBlock;
    }
}
