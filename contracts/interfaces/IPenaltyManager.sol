// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "../libraries/BN254.sol";
import {TaskInfo} from "../libraries/ProtocolHashes.sol";

/// @title IPenaltyManager
/// @notice Anyone proves an offence with signatures and on-chain records; the offender is slashed
///         through the attestation center and the reporter is paid a share.
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
    error AlreadyPunished(Offence offence, bytes32 taskHash, uint32 operatorId);
    error UnknownKey();
    error KeyRetiredBeforeTask(uint32 operatorId, uint40 retiredAtBlock, uint40 submittedAtBlock);
    /// @notice The key became the operator's after the task landed: it was no attester of it.
    error KeyAddedAfterTask(uint32 operatorId, uint40 addedAtBlock, uint40 submittedAtBlock);
    error InvalidEvidenceSignature();
    error TaskNotRejected(bytes32 taskHash);

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

    function isPunished(Offence offence, bytes32 taskHash, uint32 operatorId) external view returns (bool);
}
