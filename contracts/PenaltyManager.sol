// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {IAttestationCenter} from "./interfaces/IAttestationCenter.sol";
import {IOperatorRegistryTypes} from "./interfaces/IOperatorRegistry.sol";
import {IPenaltyManager} from "./interfaces/IPenaltyManager.sol";
import {ITaskDefinitionsTypes} from "./interfaces/ITaskDefinitions.sol";
import {BN254} from "./libraries/BN254.sol";
import {TaskInfo} from "./libraries/ProtocolHashes.sol";

/// @title PenaltyManager
/// @notice Proofs of misbehaviour, checked on-chain, and the slashing they trigger
///         (see `docs/contracts/PenaltyManager.md`). It holds the attestation center's SLASHER_ROLE.
/// @dev    Kept apart from the attestation center: offences are rare, and the center's bytecode must
///         stay under the 24 KiB limit. Each offence needs a task that landed on-chain, within the
///         dispute period and with the switch for the offence on, both as its definition had them
///         when the task landed. Punishments are recorded per account (slashing takes the account's
///         stake, whatever id it holds now), so leaving and registering again opens no second report.
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
        ITaskDefinitionsTypes.TaskPenaltyView memory terms = _landedTask(task, Offence.DoubleAttestation);
        IOperatorRegistryTypes.KeyView memory key = _signer(task, pkG2, true, approveSignature, terms);
        if (!_signed(task, pkG2, false, rejectSignature)) revert InvalidEvidenceSignature();
        return _punish(Offence.DoubleAttestation, terms, key.operatorId, key.account);
    }

    /// @inheritdoc IPenaltyManager
    /// @dev A valid signature on the side that lost the submitted task, when the winning side carried
    ///      more than two thirds of the power (always so for an approval).
    function reportIncorrectAttestation(TaskInfo calldata task, BN254.G2Point calldata pkG2, BN254.G1Point calldata signature)
        external
        returns (uint256)
    {
        ITaskDefinitionsTypes.TaskPenaltyView memory terms = _landedTask(task, Offence.IncorrectAttestation);
        if (!terms.supermajority) revert RejectionWithoutSupermajority(terms.taskHash);
        IOperatorRegistryTypes.KeyView memory key = _signer(task, pkG2, !terms.isApproved, signature, terms);
        return _punish(Offence.IncorrectAttestation, terms, key.operatorId, key.account);
    }

    /// @inheritdoc IPenaltyManager
    /// @dev The on-chain record of a rejected task is the evidence (its aggregate signature was
    ///      verified when it landed); the performer's account is punished, if more than two thirds
    ///      of the power rejected the task. Its performer signature is bound to this center and chain:
    ///      the center lands a task of a definition that punishes rejected tasks only with such a
    ///      signature (a bare taskHash signature may have been replayed from another AVS).
    function reportRejectedTask(TaskInfo calldata task) external returns (uint256) {
        ITaskDefinitionsTypes.TaskPenaltyView memory terms = _landedTask(task, Offence.RejectedTask);
        if (terms.isApproved) revert TaskNotRejected(terms.taskHash);
        if (!terms.supermajority) revert RejectionWithoutSupermajority(terms.taskHash);
        uint32 operatorId = attestationCenter.operatorIdOf(task.taskPerformer);
        return _punish(Offence.RejectedTask, terms, operatorId, task.taskPerformer);
    }

    /// @inheritdoc IPenaltyManager
    function isPunished(Offence offence, bytes32 taskHash, address account) external view returns (bool) {
        return _punished[_offenceKey(offence, taskHash, account)];
    }

    /// @dev The task's record and the settings it landed under: it must have landed, with the
    ///      offence switched on, and the report must come within the dispute period.
    function _landedTask(TaskInfo calldata task, Offence offence)
        internal
        view
        returns (ITaskDefinitionsTypes.TaskPenaltyView memory terms)
    {
        terms = attestationCenter.taskPenaltyTerms(task);
        if (terms.taskNumber == 0) revert TaskNotSubmitted(terms.taskHash);
        bool enabled = offence == Offence.DoubleAttestation
            ? terms.penalties.doubleAttestation
            : offence == Offence.IncorrectAttestation ? terms.penalties.incorrectAttestation : terms.penalties.rejectedTask;
        if (!enabled) revert PenaltyDisabled(task.taskDefinitionId, offence);
        uint256 deadline = uint256(terms.submittedAtBlock) + terms.disputePeriodBlocks;
        if (block.number > deadline) revert DisputePeriodOver(terms.taskHash, deadline);
    }

    /// @dev The key's record, if the key answers for the task and produced `signature` on the given
    ///      side's vote. A key answers for the tasks that landed while it was an operator's current
    ///      key: after it was registered and, once retired (rotation, leaving, ejection), not after.
    ///      So a key registered after a task landed is never blamed for it, and a leaked retired key
    ///      incriminates nobody for later tasks. Task numbers decide, exactly within a block too.
    function _signer(
        TaskInfo calldata task,
        BN254.G2Point calldata pkG2,
        bool isApproved,
        BN254.G1Point calldata signature,
        ITaskDefinitionsTypes.TaskPenaltyView memory terms
    ) internal view returns (IOperatorRegistryTypes.KeyView memory key) {
        key = attestationCenter.keyRecord(pkG2);
        if (key.operatorId == 0) revert UnknownKey();
        if (terms.taskNumber <= key.addedAtTaskCount) {
            revert KeyAddedAfterTask(key.operatorId, key.addedAtBlock, terms.submittedAtBlock);
        }
        if (key.retiredAtBlock != 0 && terms.taskNumber > key.retiredAtTaskCount) {
            revert KeyRetiredBeforeTask(key.operatorId, key.retiredAtBlock, terms.submittedAtBlock);
        }
        if (!_signed(task, pkG2, isApproved, signature)) revert InvalidEvidenceSignature();
    }

    function _signed(TaskInfo calldata task, BN254.G2Point calldata pkG2, bool isApproved, BN254.G1Point calldata signature)
        internal
        view
        returns (bool)
    {
        return BN254.verifyWithG2(attestationCenter.voteHash(task, isApproved), pkG2, signature);
    }

    function _punish(
        Offence offence,
        ITaskDefinitionsTypes.TaskPenaltyView memory terms,
        uint32 operatorId,
        address account
    ) internal returns (uint256 slashed) {
        bytes32 key = _offenceKey(offence, terms.taskHash, account);
        if (_punished[key]) revert AlreadyPunished(offence, terms.taskHash, account);
        _punished[key] = true;
        slashed = attestationCenter.slashOperator(
            operatorId, terms.penalties.slashBps, terms.penalties.reporterBps, msg.sender
        );
        emit OffencePunished(offence, terms.taskHash, operatorId, msg.sender, slashed);
    }

    /// @dev Per account, not per operator id: an account that left and registered again is the same
    ///      offender. A double attestation always includes a signature on the losing side, so the two
    ///      signature offences share one key: one account's signatures on one task are punished once.
    function _offenceKey(Offence offence, bytes32 taskHash, address account) internal pure returns (bytes32) {
        Offence kind = offence == Offence.IncorrectAttestation ? Offence.DoubleAttestation : offence;
        return keccak256(abi.encode(kind, taskHash, account));
    }
}
