// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "../libraries/BN254.sol";
import {TaskInfo} from "../libraries/ProtocolHashes.sol";

/// @title IPenaltyManager
/// @notice Anyone proves an offence with signatures and on-chain records; the offender is slashed
///         through the attestation center and the reporter is paid a share. A task is judged by the
///         penalty settings of its definition in force when it landed, and each account is punished
///         at most once per offence and task, whatever operator ids it held.
interface IPenaltyManager {
    enum Offence {
        DoubleAttestation,
        IncorrectAttestation,
        RejectedTask
    }

    event OffencePunished(
        Offence indexed offence, bytes32 indexed taskHash, uint32 indexed operatorId, address reporter, uint256 slashed
    );

    error TaskNotSubmitted(bytes32 taskHash);
    error DisputePeriodOver(bytes32 taskHash, uint256 deadlineBlock);
    error PenaltyDisabled(uint16 taskDefinitionId, Offence offence);
    /// @notice The account was already punished for this offence on this task (under any of its ids).
    error AlreadyPunished(Offence offence, bytes32 taskHash, address account);
    error UnknownKey();
    error KeyRetiredBeforeTask(uint32 operatorId, uint40 retiredAtBlock, uint40 submittedAtBlock);
    /// @notice The key became the operator's after the task landed: it was no attester of it.
    error KeyAddedAfterTask(uint32 operatorId, uint40 addedAtBlock, uint40 submittedAtBlock);
    error InvalidEvidenceSignature();
    error TaskNotRejected(bytes32 taskHash);
    /// @notice The task landed rejected with at most two thirds of the voting power: a third of the
    ///         power may reject, but only a verdict an approval could not have outvoted punishes
    ///         the performer or the approvers.
    error RejectionWithoutSupermajority(bytes32 taskHash);

    function reportDoubleAttestation(
        TaskInfo calldata task,
        BN254.G2Point calldata pkG2,
        BN254.G1Point calldata approveSignature,
        BN254.G1Point calldata rejectSignature
    ) external returns (uint256 slashed);

    function reportIncorrectAttestation(TaskInfo calldata task, BN254.G2Point calldata pkG2, BN254.G1Point calldata signature)
        external
        returns (uint256 slashed);

    function reportRejectedTask(TaskInfo calldata task) external returns (uint256 slashed);

    /// @notice Whether `account` was punished for `offence` on the task (the two signature offences
    ///         share one record: a double attestation always includes a signature on the losing side).
    function isPunished(Offence offence, bytes32 taskHash, address account) external view returns (bool);
}
