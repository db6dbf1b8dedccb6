// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {TaskInfo} from "../libraries/ProtocolHashes.sol";

/// @title ITaskDefinitions
/// @notice Task definitions: one per kind of task an AVS runs, with its rewards, penalties and
///         attesters. Id 0 exists from deployment. Only the AVS owner (DEFAULT_ADMIN_ROLE) creates
///         and updates them.
interface ITaskDefinitionsTypes {

    /// @notice Which offences are punished for tasks of a definition, and how hard.
    struct PenaltyConfig {
        bool doubleAttestation; // signing both sides of one task: never honest, on by default
        bool incorrectAttestation; // signing the side that lost: honest operators can disagree
        bool rejectedTask; // performing a task that attesters rejected
        uint16 slashBps; // share of the offender's stake (active + unbonding) taken, in basis points
        uint16 reporterBps; // share of the slashed amount paid to whoever proved the offence (at most 5,000)
    }

    struct TaskDefinitionParams {
        string name;
        uint64 blockExpiry; // last block at which tasks may be submitted; 0 = never expires
        uint256 baseRewardFeeForAttesters; // per signing attester (rewards: at most 15 significant digits)
        uint256 baseRewardFeeForPerformer;
        uint256 baseRewardFeeForAggregator;
        uint64 disputePeriodBlocks; // offences can be proven this long after a task lands (< unbonding delay)
        uint256 minimumVotingPower; // attesters need at least this stake
        uint32[] restrictedAttesterIds; // strictly increasing; empty = every active operator
        uint32 maximumNumberOfAttesters; // signers per task; 0 = no limit; at most 65535
        PenaltyConfig penalties;
    }

    /// @notice A definition as stored, plus the operator set its attesters come from.
    struct TaskDefinitionView {
        uint16 id;
        uint32 operatorSetId; // 0 = every active operator
        TaskDefinitionParams params;
    }

    /// @notice What a landed task is judged by: its on-chain record and the penalty settings of its
    ///         definition in force when it landed (later updates do not apply to it).
    struct TaskPenaltyView {
        bytes32 taskHash;
        uint64 taskNumber; // 0: the task never landed (every other field is then zero)
        uint40 submittedAtBlock;
        bool isApproved;
        bool supermajority; // the landed side carried more than two thirds of the voting power
        /// @dev The performer signed the domain-bound digest (`ProtocolHashes.performerHash`), so the
        ///      task was sent to this center on this chain; false for a bare (Othentic) taskHash signature.
        bool performerBound;
        uint64 disputePeriodBlocks;
        PenaltyConfig penalties;
    }

    event TaskDefinitionCreated(uint16 indexed taskDefinitionId, uint32 operatorSetId, TaskDefinitionParams params);
    event TaskDefinitionUpdated(uint16 indexed taskDefinitionId, uint32 operatorSetId, TaskDefinitionParams params);

    error UnknownTaskDefinition(uint16 taskDefinitionId);
    error TaskDefinitionLimitReached();
    error EmptyTaskDefinitionName();
    error TaskDefinitionNameTooLong(uint256 length, uint256 maximum);
    error BlockExpiryInPast(uint64 blockExpiry, uint256 currentBlock);
    error RewardTooLarge(uint256 reward, uint256 maximum);
    /// @notice Rewards are stored as decimal floats: at most 15 significant digits (round it).
    error RewardNotRepresentable(uint256 reward);
    error BlockExpiryTooLarge(uint64 blockExpiry, uint64 maximum);
    error MaximumAttestersTooLarge(uint32 maximumNumberOfAttesters, uint32 maximum);
    error OperatorSetLimitReached();
    /// @notice The unbonding delay must be strictly longer than every dispute period: with equal
    ///         lengths a withdrawal unlocks in the last block in which a report is still accepted.
    error DisputePeriodNotBelowUnbondingDelay(uint64 disputePeriodBlocks, uint64 unbondingDelayBlocks);
    error MinimumVotingPowerTooLarge(uint256 minimumVotingPower);
    error RestrictedAttestersNotSorted(uint256 index);
    error TooManyRestrictedAttesters(uint256 count, uint256 maximum);
    error InvalidPenaltyConfig(uint16 slashBps, uint16 reporterBps);
}

interface ITaskDefinitions is ITaskDefinitionsTypes {
    function createTaskDefinition(TaskDefinitionParams calldata params) external returns (uint16 taskDefinitionId);
    function updateTaskDefinition(uint16 taskDefinitionId, TaskDefinitionParams calldata params) external;
    function taskDefinitionCount() external view returns (uint16);
    function getTaskDefinition(uint16 taskDefinitionId) external view returns (TaskDefinitionView memory);
    function taskDefinitionMembers(uint16 taskDefinitionId)
        external
        view
        returns (uint32[] memory ids, uint96[] memory stakes);
    /// @notice The record of a landed task and the penalty settings it is judged by (see TaskPenaltyView).
    function taskPenaltyTerms(TaskInfo calldata task) external view returns (TaskPenaltyView memory);
}
