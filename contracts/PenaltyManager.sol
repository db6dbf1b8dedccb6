// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {IAttestationCenter} from "./interfaces/IAttestationCenter.sol";
import {IPenaltyManager} from "./interfaces/IPenaltyManager.sol";
import {ITaskDefinitions} from "./interfaces/ITaskDefinitions.sol";
import {BN254} from "./libraries/BN254.sol";
import {TaskInfo} from "./libraries/ProtocolHashes.sol";

/// @title PenaltyManager
/// @notice Proofs of misbehaviour, checked on-chain, and the slashing they trigger
///         (see `docs/contracts/PenaltyManager.md`). It holds the attestation center's SLASHER_ROLE.
/// @dev    Kept apart from the attestation center: offences are rare, and the center's bytecode must
///         stay under the 24 KiB limit. Each offence needs a task that landed on-chain, within its
///         definition's dispute period, with that definition's switch for the offence on.
contract PenaltyManager is IPenaltyManager {
    IAttestationCenter public immutable attestationCenter;

    mapping(bytes32 => bool) internal _punished;

    constructor(IAttestationCenter center) {
        attestationCenter = center;
    }

    /// @inheritdoc IPenaltyManager
    /// @dev Two valid signatures by one key on the approve and the reject vote of the same task.
    function reportDoubleAttestation(
        TaskInfo calldata task,
        BN254.G2Point calldata pkG2,
        BN254.G1Point calldata approveSignature,
        BN254.G1Point calldata rejectSignature
    ) external returns (uint256) {
        (bytes32 taskHash, IAttestationCenter.TaskRecord memory record, ITaskDefinitions.PenaltyConfig memory config) =
            _landedTask(task, Offence.DoubleAttestation);
        uint32 operatorId = _signer(task, pkG2, true, approveSignature, record);
        if (_signer(task, pkG2, false, rejectSignature, record) != operatorId) revert InvalidEvidenceSignature();
        return _punish(Offence.DoubleAttestation, taskHash, operatorId, config);
    }

    /// @inheritdoc IPenaltyManager
    /// @dev A valid signature on the side that lost the submitted task.
    function reportIncorrectAttestation(TaskInfo calldata task, BN254.G2Point calldata pkG2, BN254.G1Point calldata signature)
        external
        returns (uint256)
    {
        (bytes32 taskHash, IAttestationCenter.TaskRecord memory record, ITaskDefinitions.PenaltyConfig memory config) =
            _landedTask(task, Offence.IncorrectAttestation);
        uint32 operatorId = _signer(task, pkG2, !record.isApproved, signature, record);
        return _punish(Offence.IncorrectAttestation, taskHash, operatorId, config);
    }

    /// @inheritdoc IPenaltyManager
    /// @dev The on-chain record of a rejected task is the evidence (its aggregate signature was
    ///      verified when it landed); the performer is punished.
    function reportRejectedTask(TaskInfo calldata task) external returns (uint256) {
        (bytes32 taskHash, IAttestationCenter.TaskRecord memory record, ITaskDefinitions.PenaltyConfig memory config) =
            _landedTask(task, Offence.RejectedTask);
        if (record.isApproved) revert TaskNotRejected(taskHash);
        uint32 operatorId = attestationCenter.operatorIdOf(task.taskPerformer);
        return _punish(Offence.RejectedTask, taskHash, operatorId, config);
    }

    /// @inheritdoc IPenaltyManager
    function isPunished(Offence offence, bytes32 taskHash, uint32 operatorId) external view returns (bool) {
        return _punished[_offenceKey(offence, taskHash, operatorId)];
    }

    function _landedTask(TaskInfo calldata task, Offence offence)
        internal
        view
        returns (bytes32 taskHash, IAttestationCenter.TaskRecord memory record, ITaskDefinitions.PenaltyConfig memory config)
    {
        taskHash = attestationCenter.taskHash(task);
        record = attestationCenter.taskRecord(taskHash);
        if (record.taskNumber == 0) revert TaskNotSubmitted(taskHash);
        ITaskDefinitions.TaskDefinitionParams memory params =
            attestationCenter.getTaskDefinition(task.taskDefinitionId).params;
        config = params.penalties;
        bool enabled = offence == Offence.DoubleAttestation
            ? config.doubleAttestation
            : offence == Offence.IncorrectAttestation ? config.incorrectAttestation : config.rejectedTask;
        if (!enabled) revert PenaltyDisabled(task.taskDefinitionId, offence);
        uint256 deadline = uint256(record.submittedAtBlock) + params.disputePeriodBlocks;
        if (block.number > deadline) revert DisputePeriodOver(taskHash, deadline);
    }

    /// @dev The operator whose registered key produced `signature` on the given side's vote. A key
    ///      answers for tasks that landed while it was the operator's: from the block it was
    ///      registered to the block it was replaced. So a key registered after a task landed (an
    ///      operator asked to vote on a task it never attested) and a leaked retired key are never
    ///      blamed for it.
    function _signer(
        TaskInfo calldata task,
        BN254.G2Point calldata pkG2,
        bool isApproved,
        BN254.G1Point calldata signature,
        IAttestationCenter.TaskRecord memory record
    ) internal view returns (uint32 operatorId) {
        uint40 addedAtBlock;
        uint40 retiredAtBlock;
        (operatorId, addedAtBlock, retiredAtBlock) = attestationCenter.keyOwner(pkG2);
        if (operatorId == 0) revert UnknownKey();
        if (addedAtBlock > record.submittedAtBlock) {
            revert KeyAddedAfterTask(operatorId, addedAtBlock, record.submittedAtBlock);
        }
        if (retiredAtBlock != 0 && retiredAtBlock < record.submittedAtBlock) {
            revert KeyRetiredBeforeTask(operatorId, retiredAtBlock, record.submittedAtBlock);
        }
        bytes32 digest = attestationCenter.voteHash(task, isApproved);
        if (!BN254.verifyWithG2(digest, pkG2, signature)) revert InvalidEvidenceSignature();
    }

    function _punish(Offence offence, bytes32 taskHash, uint32 operatorId, ITaskDefinitions.PenaltyConfig memory config)
        internal
        returns (uint256 slashed)
    {
        bytes32 key = _offenceKey(offence, taskHash, operatorId);
        if (_punished[key]) revert AlreadyPunished(offence, taskHash, operatorId);
        _punished[key] = true;
        slashed = attestationCenter.slashOperator(operatorId, config.slashBps, config.reporterBps, msg.sender);
        emit OffencePunished(offence, taskHash, operatorId, msg.sender, slashed);
    }

    /// @dev A double attestation always includes a signature on the losing side: the two signature
    ///      offences share one key, so one operator's signatures on one task are punished once.
    function _offenceKey(Offence offence, bytes32 taskHash, uint32 operatorId) internal pure returns (bytes32) {
        Offence kind = offence == Offence.IncorrectAttestation ? Offence.DoubleAttestation : offence;
        return keccak256(abi.encode(kind, taskHash, operatorId));
    }
}
