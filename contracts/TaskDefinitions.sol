// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Aggregators} from "./core/Aggregators.sol";
import {ProtocolHashes, TaskInfo} from "./libraries/ProtocolHashes.sol";

/// @title TaskDefinitions
/// @notice Task definitions and the operator sets behind them (see `docs/contracts/TaskDefinitions.md`).
/// @dev    A stateless module the attestation center delegates to (see OperatorRegistry). A definition
///         that neither restricts its attesters nor asks for a minimum voting power uses set 0
///         (every active operator). Any other gets a set of its own, kept exact on every operator
///         change; changing who may attest retires that set and builds a new one, so totals never go
///         stale (unlike a snapshot taken when the definition changed).
///         It also serves the aggregator functions (`Aggregators`), which the OperatorRegistry
///         module has no code-size room left for.
contract TaskDefinitions is Aggregators {
    uint256 public constant MAX_NAME_LENGTH = 64;
    uint256 public constant MAX_RESTRICTED_ATTESTERS = 256;

    error DefinitionZeroExists();

    /// @notice Creates a task definition (admin = the AVS owner). Returns its id (0, 1, 2, ...).
    function createTaskDefinition(TaskDefinitionParams calldata params)
        external
        onlyDelegated
        onlyRole(DEFAULT_ADMIN_ROLE)
        returns (uint16 taskDefinitionId)
    {
        return _create(params);
    }

    /// @notice Replaces every parameter of a definition (admin). If who may attest changes (the
    ///         restricted ids or the minimum voting power), its operator set is retired and a new one
    ///         built: members' rewards are settled, and tasks signed for the old set no longer verify.
    ///         New penalty settings (switches, shares, dispute period) judge only the tasks that land
    ///         from now on; tasks already landed keep the settings they landed under.
    function updateTaskDefinition(uint16 taskDefinitionId, TaskDefinitionParams calldata params)
        external
        onlyDelegated
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        DefinitionHot memory hot = _defHot[taskDefinitionId];
        if (hot.flags & DEF_EXISTS == 0) revert UnknownTaskDefinition(taskDefinitionId);
        _validate(params);
        uint32 setId = hot.setId;
        bool sameAttesters = params.minimumVotingPower == _defCold[taskDefinitionId].minimumVotingPower
            && keccak256(abi.encode(params.restrictedAttesterIds)) == keccak256(abi.encode(_defRestricted[taskDefinitionId]));
        if (!sameAttesters) {
            if (setId != 0) _retireSet(setId);
            setId = _setFor(params);
        }
        _store(taskDefinitionId, setId, params);
        emit TaskDefinitionUpdated(taskDefinitionId, setId, params);
    }

    function taskDefinitionCount() external view returns (uint16) {
        return uint16(_definitionCount);
    }

    function getTaskDefinition(uint16 taskDefinitionId) external view returns (TaskDefinitionView memory) {
        DefinitionHot memory hot = _defHot[taskDefinitionId];
        if (hot.flags & DEF_EXISTS == 0) revert UnknownTaskDefinition(taskDefinitionId);
        DefinitionCold memory cold = _defCold[taskDefinitionId];
        return TaskDefinitionView({
            id: taskDefinitionId,
            operatorSetId: hot.setId,
            params: TaskDefinitionParams({
                name: _defName[taskDefinitionId],
                blockExpiry: hot.blockExpiry,
                baseRewardFeeForAttesters: _unpackAmount(hot.attesterReward),
                baseRewardFeeForPerformer: _unpackAmount(hot.performerReward),
                baseRewardFeeForAggregator: _unpackAmount(hot.aggregatorReward),
                disputePeriodBlocks: cold.disputePeriodBlocks,
                minimumVotingPower: cold.minimumVotingPower,
                restrictedAttesterIds: _defRestricted[taskDefinitionId],
                maximumNumberOfAttesters: hot.maxAttesters,
                penalties: PenaltyConfig({
                    doubleAttestation: hot.flags & DEF_PENALIZE_DOUBLE != 0,
                    incorrectAttestation: hot.flags & DEF_PENALIZE_INCORRECT != 0,
                    rejectedTask: hot.flags & DEF_PENALIZE_REJECTED != 0,
                    slashBps: cold.slashBps,
                    reporterBps: cold.reporterBps
                })
            })
        });
    }

    /// @notice A landed task's record and the penalty settings it is judged by: those of its
    ///         definition in force when it landed. All zero (taskNumber 0) for a task that never landed.
    function taskPenaltyTerms(TaskInfo calldata task) external view returns (TaskPenaltyView memory terms) {
        terms.taskHash = ProtocolHashes.taskHash(task);
        StoredTask memory stored = _tasks[terms.taskHash];
        if (stored.taskNumber == 0) return terms;
        terms.taskNumber = stored.taskNumber;
        terms.submittedAtBlock = stored.submittedAtBlock;
        terms.isApproved = stored.isApproved;
        terms.supermajority = stored.supermajority;
        terms.performerBound = stored.performerBound;
        PenaltyTerms memory inForce = _termsAt(task.taskDefinitionId, stored.taskNumber);
        terms.disputePeriodBlocks = inForce.disputePeriodBlocks;
        terms.penalties = PenaltyConfig({
            doubleAttestation: inForce.switches & DEF_PENALIZE_DOUBLE != 0,
            incorrectAttestation: inForce.switches & DEF_PENALIZE_INCORRECT != 0,
            rejectedTask: inForce.switches & DEF_PENALIZE_REJECTED != 0,
            slashBps: inForce.slashBps,
            reporterBps: inForce.reporterBps
        });
    }

    function taskDefinitionMembers(uint16 taskDefinitionId)
        external
        view
        returns (uint32[] memory ids, uint96[] memory stakes)
    {
        DefinitionHot memory hot = _defHot[taskDefinitionId];
        if (hot.flags & DEF_EXISTS == 0) revert UnknownTaskDefinition(taskDefinitionId);
        return _setMembers(hot.setId);
    }

    /// @notice Creates definition 0 while the center is being constructed (its constructor delegates
    ///         here); refused once any definition exists, so it can never run again.
    function createDefinitionZero(TaskDefinitionParams calldata params) external onlyDelegated returns (uint16) {
        if (_definitionCount != 0) revert DefinitionZeroExists();
        return _create(params);
    }

    function _create(TaskDefinitionParams memory params) internal returns (uint16 id) {
        if (_definitionCount > type(uint16).max) revert TaskDefinitionLimitReached();
        _validate(params);
        id = uint16(_definitionCount++);
        uint32 setId = _setFor(params);
        _store(id, setId, params);
        emit TaskDefinitionCreated(id, setId, params);
    }

    function _setFor(TaskDefinitionParams memory params) internal returns (uint32 setId) {
        bool restricted = params.restrictedAttesterIds.length > 0;
        if (!restricted && params.minimumVotingPower == 0) return 0;
        setId = _createSet(restricted, uint96(params.minimumVotingPower), params.restrictedAttesterIds);
        if (setId > type(uint24).max) revert OperatorSetLimitReached();
    }

    function _store(uint16 id, uint32 setId, TaskDefinitionParams memory params) internal {
        uint8 flags = DEF_EXISTS;
        if (params.penalties.doubleAttestation) flags |= DEF_PENALIZE_DOUBLE;
        if (params.penalties.incorrectAttestation) flags |= DEF_PENALIZE_INCORRECT;
        if (params.penalties.rejectedTask) flags |= DEF_PENALIZE_REJECTED;
        _defHot[id] = DefinitionHot({
            setId: uint24(setId),
            blockExpiry: uint40(params.blockExpiry),
            maxAttesters: uint16(params.maximumNumberOfAttesters),
            flags: flags,
            attesterReward: _packAmount(params.baseRewardFeeForAttesters),
            performerReward: _packAmount(params.baseRewardFeeForPerformer),
            aggregatorReward: _packAmount(params.baseRewardFeeForAggregator)
        });
        _defCold[id] = DefinitionCold({
            disputePeriodBlocks: params.disputePeriodBlocks,
            minimumVotingPower: uint96(params.minimumVotingPower),
            slashBps: params.penalties.slashBps,
            reporterBps: params.penalties.reporterBps
        });
        _defName[id] = params.name;
        _defRestricted[id] = params.restrictedAttesterIds;
        _recordPenaltyTerms(id, flags & DEF_PENALTY_SWITCHES, params);
    }

    /// @dev Appends the definition's penalty settings to its history, for the tasks that land from
    ///      now on. Settings that no task has landed under yet are overwritten instead, and unchanged
    ///      settings add nothing. A dispute period that stops applying to new tasks still runs for
    ///      the tasks landed under it: the registry keeps withdrawals from unlocking before its end.
    function _recordPenaltyTerms(uint16 id, uint8 switches, TaskDefinitionParams memory params) internal {
        PenaltyTerms memory terms = PenaltyTerms({
            sinceTaskCount: _sets[0].taskCount,
            disputePeriodBlocks: params.disputePeriodBlocks,
            switches: switches,
            slashBps: params.penalties.slashBps,
            reporterBps: params.penalties.reporterBps
        });
        PenaltyTerms[] storage history = _penaltyHistory[id];
        uint256 length = history.length;
        if (length != 0) {
            PenaltyTerms memory last = history[length - 1];
            if (
                last.disputePeriodBlocks == terms.disputePeriodBlocks && last.switches == terms.switches
                    && last.slashBps == terms.slashBps && last.reporterBps == terms.reporterBps
            ) return;
            if (last.sinceTaskCount == terms.sinceTaskCount) {
                history[length - 1] = terms;
                return;
            }
            uint256 openUntil = block.number + last.disputePeriodBlocks;
            if (openUntil > type(uint64).max) openUntil = type(uint64).max;
            if (openUntil > _supersededDisputesOpenUntil) _supersededDisputesOpenUntil = uint64(openUntil);
        }
        history.push(terms);
    }

    /// @dev The entry of the definition's history in force for task number `taskNumber`: the last
    ///      one recorded before that task landed (binary search; the first entry predates every task
    ///      of the definition).
    function _termsAt(uint16 id, uint64 taskNumber) internal view returns (PenaltyTerms memory) {
        PenaltyTerms[] storage history = _penaltyHistory[id];
        uint256 low;
        uint256 high = history.length; // the answer lies in [low, high)
        while (high - low > 1) {
            uint256 middle = (low + high) / 2;
            if (history[middle].sinceTaskCount < taskNumber) low = middle;
            else high = middle;
        }
        return history[low];
    }

    /// @dev The inverse of `_unpackAmount`: strips trailing decimal zeros until the mantissa fits.
    function _packAmount(uint256 amount) internal pure returns (uint56) {
        uint256 mantissa = amount;
        uint256 exponent;
        while (mantissa >= 2 ** 51) {
            if (mantissa % 10 != 0 || exponent == 31) revert RewardNotRepresentable(amount);
            mantissa /= 10;
            ++exponent;
        }
        return uint56(mantissa << 5 | exponent);
    }

    function _validate(TaskDefinitionParams memory params) internal view {
        uint256 nameLength = bytes(params.name).length;
        if (nameLength == 0) revert EmptyTaskDefinitionName();
        if (nameLength > MAX_NAME_LENGTH) revert TaskDefinitionNameTooLong(nameLength, MAX_NAME_LENGTH);
        if (params.blockExpiry != 0 && params.blockExpiry <= block.number) {
            revert BlockExpiryInPast(params.blockExpiry, block.number);
        }
        if (params.blockExpiry > type(uint40).max) revert BlockExpiryTooLarge(params.blockExpiry, type(uint40).max);
        if (params.maximumNumberOfAttesters > type(uint16).max) {
            revert MaximumAttestersTooLarge(params.maximumNumberOfAttesters, type(uint16).max);
        }
        if (params.baseRewardFeeForAttesters > type(uint96).max) {
            revert RewardTooLarge(params.baseRewardFeeForAttesters, type(uint96).max);
        }
        if (params.baseRewardFeeForPerformer > type(uint128).max) {
            revert RewardTooLarge(params.baseRewardFeeForPerformer, type(uint128).max);
        }
        if (params.baseRewardFeeForAggregator > type(uint128).max) {
            revert RewardTooLarge(params.baseRewardFeeForAggregator, type(uint128).max);
        }
        if (params.disputePeriodBlocks >= _config.unbondingDelayBlocks) {
            revert DisputePeriodNotBelowUnbondingDelay(params.disputePeriodBlocks, _config.unbondingDelayBlocks);
        }
        if (params.minimumVotingPower > type(uint96).max) revert MinimumVotingPowerTooLarge(params.minimumVotingPower);
        uint32[] memory restricted = params.restrictedAttesterIds;
        if (restricted.length > MAX_RESTRICTED_ATTESTERS) {
            revert TooManyRestrictedAttesters(restricted.length, MAX_RESTRICTED_ATTESTERS);
        }
        for (uint256 i; i < restricted.length; ++i) {
            if (i > 0 && restricted[i] <= restricted[i - 1]) revert RestrictedAttestersNotSorted(i);
            if (restricted[i] == 0 || restricted[i] > _lastOperatorId) revert UnknownOperator(restricted[i]);
        }
        PenaltyConfig memory penalties = params.penalties;
        if (penalties.slashBps > 10_000) revert InvalidPenaltyConfig(penalties.slashBps, penalties.reporterBps);
        if (penalties.reporterBps > MAX_REPORTER_BPS) {
            revert ReporterShareTooLarge(penalties.reporterBps, MAX_REPORTER_BPS);
        }
    }
}
