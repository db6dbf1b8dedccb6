// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "../libraries/BN254.sol";
import {TaskInfo} from "../libraries/ProtocolHashes.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {IOperatorRegistry, IOperatorRegistryTypes} from "./IOperatorRegistry.sol";
import {ITaskDefinitions, ITaskDefinitionsTypes} from "./ITaskDefinitions.sol";

/// @title IAttestationCenter
/// @notice Where aggregators submit tasks: one aggregate BLS signature per task, checked against the
///         definition's operator set with one pairing, quorum on stake, rewards accrued, AVS hooks.
interface IAttestationCenterTypes is IOperatorRegistryTypes, ITaskDefinitionsTypes {

    /// @notice What the aggregator adds to a task.
    struct TaskSubmission {
        bool isApproved;
        bytes tpSignature; // performer's ECDSA signature over taskHash (65 bytes, v in {0,1,27,28})
        BN254.G1Point taSignature; // aggregate BLS signature over voteHash
        BN254.G2Point signersApkG2; // aggregate G2 key of the signers (precompile order)
        uint32[] nonSignerIds; // members of the definition's set who did not sign, strictly increasing
    }

    /// @notice What stays on-chain of a submitted task (keyed by taskHash).
    struct TaskRecord {
        uint64 taskNumber; // 1, 2, 3, ... in submission order
        uint40 submittedAtBlock;
        bool isApproved;
    }

    event TaskSubmitted(
        uint64 indexed taskNumber,
        uint16 indexed taskDefinitionId,
        bytes32 indexed taskHash,
        address performer,
        address aggregator,
        string proofOfTask,
        bytes data,
        uint32[] nonSignerIds,
        uint256 signedPower,
        uint256 totalPower
    );
    event TaskRejected(
        uint64 indexed taskNumber,
        uint16 indexed taskDefinitionId,
        bytes32 indexed taskHash,
        address performer,
        address aggregator,
        string proofOfTask,
        bytes data,
        uint32[] nonSignerIds,
        uint256 signedPower,
        uint256 totalPower
    );
    /// @notice The task landed from an account whose turn it was not (docs/decisions/0015): nobody
    ///         was credited the aggregator reward `amount`.
    event AggregatorRewardForfeited(bytes32 indexed taskHash, address indexed aggregator, uint256 amount);
    event RewardsClaimed(address indexed account, address indexed to, uint256 amount);
    event FlowsPaused(uint8 flows, address by);
    event FlowsUnpaused(uint8 flows, address by);
    event AvsLogicUpdated(address avsLogic);
    event FeeCalculatorUpdated(address feeCalculator);

    error TaskDefinitionExpired(uint16 taskDefinitionId, uint64 blockExpiry);
    error TaskAlreadySubmitted(bytes32 taskHash);
    error InvalidPerformerSignature(address performer, address recovered);
    /// @dev The definition punishes rejected tasks, and the performer signed the bare taskHash (which
    ///      names no center or chain): only a domain-bound signature can be held against its signer.
    error PerformerSignatureNotDomainBound(bytes32 taskHash, uint16 taskDefinitionId);
    error PerformerNotActive(address performer);
    error AggregatorNotActive(address aggregator);
    error NonSignersNotSorted(uint256 index);
    error NonSignerNotInSet(uint32 operatorId, uint32 operatorSetId);
    error TooManyNonSigners(uint256 nonSigners, uint256 members);
    error TooManyAttesters(uint256 signers, uint256 maximum);
    error QuorumNotReached(bool isApproved, uint256 signedPower, uint256 totalPower);
    error InvalidAggregateSignature();
    error ClaimExceedsRewards(uint256 requested, uint256 claimable);
    error InvalidFlows(uint8 flows);
    /// @notice A set's cumulative attester reward would pass 2**96 - 1 (about 7.9e28).
    error RewardIndexOverflow(uint32 operatorSetId);
}

/// @notice The whole API at the attestation center's address: its own functions and those of the
///         OperatorRegistry and TaskDefinitions modules it delegates to. Use this ABI to talk to it.
interface IAttestationCenter is IAttestationCenterTypes, IOperatorRegistry, ITaskDefinitions, IAccessControl {
    function submitTask(TaskInfo calldata task, TaskSubmission calldata submission) external;
    function claimRewards(address to, uint256 amount) external;
    function pause(uint8 flows) external;
    function unpause(uint8 flows) external;
    function setAvsLogic(address avsLogic) external;
    function setFeeCalculator(address feeCalculator) external;
    function rewardsVault() external view returns (address);
    function avsLogic() external view returns (address);
    function feeCalculator() external view returns (address);
    function pausedFlows() external view returns (uint8);
    function taskCount() external view returns (uint64);
    function taskRecord(bytes32 taskHash) external view returns (TaskRecord memory);
    function claimableRewards(address account) external view returns (uint256);
    function claimedRewards(address account) external view returns (uint256);
    function taskHash(TaskInfo calldata task) external pure returns (bytes32);
    function voteHash(TaskInfo calldata task, bool isApproved) external view returns (bytes32);
}
