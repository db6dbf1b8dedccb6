// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "../libraries/BN254.sol";

/// @title IOperatorRegistry
/// @notice Operators, their stake (= voting power) and BLS keys, and the operator sets that task
///         definitions draw their attesters from. Every set keeps its aggregate G1 key, total voting
///         power and member count current on every change, so that checking a submission never loops
///         over the operators who signed.
interface IOperatorRegistryTypes {

    /// @notice Registry settings, fixed at deployment and changed by the admin afterwards.
    struct RegistryConfig {
        uint96 minimumStake; // to register, and to stay registered after a withdrawal or a slash
        uint32 maxOperators; // active operators at once (1 to 65535)
        uint64 unbondingDelayBlocks; // a withdrawal waits this long, so that slashing can still reach it
    }

    /// @notice Everything the registry knows about one operator id, for off-chain readers.
    struct OperatorView {
        uint32 id;
        address account;
        bool active;
        uint96 stake;
        uint40 registeredAtBlock;
        uint40 exitedAtBlock;
        BN254.G1Point pkG1;
        BN254.G2Point pkG2;
        string endpoint;
    }

    /// @notice An operator set: the attesters of one or more task definitions.
    struct OperatorSetView {
        uint32 id;
        bool restricted; // only listed operators may be members
        bool retired; // replaced when its task definition changed; no longer maintained
        uint96 minimumStake; // members need at least this stake
        uint96 totalPower;
        uint32 memberCount;
        BN254.G1Point apkG1;
        uint128 rewardIndex; // cumulative attester reward per member
    }

    /// @notice A registered BLS key and the tasks it answers for. Tasks are counted across all
    ///         definitions (`taskCount`), so the bounds are exact even within one block: the key
    ///         answers for task number n when `addedAtTaskCount < n` and, once retired (by a key
    ///         rotation, leaving or ejection), `n <= retiredAtTaskCount`.
    struct KeyView {
        uint32 operatorId;
        address account;
        uint40 addedAtBlock;
        uint40 retiredAtBlock; // 0 while the key is current
        uint40 addedAtTaskCount; // tasks landed before the key became the operator's
        uint40 retiredAtTaskCount; // tasks landed before it was retired (meaningful once retired)
    }

    /// @notice Operators who land tasks, and their schedule (docs/decisions/0015-aggregator-schedule.md).
    ///         Until the first operator opts in, any active operator submits and takes the reward.
    struct AggregatorConfig {
        uint16 maxAggregators; // opted in at once (0 to MAX_AGGREGATORS); 0 admits nobody new
        uint16 count; // opted in now (read-only: ignored by setAggregatorConfig)
        uint32 turnSeconds; // each aggregator's turn, in block time; the next one's starts after it
        uint32 graceSeconds; // the aggregator of the turn before is still paid this long into a turn
    }

    /// @notice An aggregator, in schedule order (`activeAggregators`).
    struct AggregatorView {
        uint32 operatorId;
        address account;
        string endpoint;
    }

    event OperatorRegistered(
        uint32 indexed operatorId, address indexed account, uint256 stake, BN254.G1Point pkG1, BN254.G2Point pkG2
    );
    event StakeIncreased(uint32 indexed operatorId, uint256 amount, uint256 stake);
    event WithdrawalRequested(uint32 indexed operatorId, address indexed account, uint256 amount, uint256 stake, uint64 unlockBlock);
    event Withdrawn(address indexed account, address indexed to, uint256 amount);
    event OperatorLeft(uint32 indexed operatorId, address indexed account);
    event OperatorEjected(uint32 indexed operatorId, address indexed account, address indexed by);
    event BlsKeyUpdated(uint32 indexed operatorId, BN254.G1Point pkG1, BN254.G2Point pkG2);
    event OperatorEndpointUpdated(uint32 indexed operatorId, string endpoint);
    event OperatorSlashed(
        uint32 indexed operatorId, address indexed account, uint256 amount, address indexed reporter, uint256 reporterReward
    );
    event OperatorSetMembershipChanged(uint32 indexed setId, uint32 indexed operatorId, bool member, uint256 totalPower);
    event RegistryConfigUpdated(RegistryConfig config);
    /// @notice `operatorId` joined the aggregator list at `position` (the end of the list).
    event AggregatorOptedIn(uint32 indexed operatorId, address indexed account, uint256 position, string endpoint);
    event AggregatorEndpointUpdated(uint32 indexed operatorId, string endpoint);
    /// @notice `operatorId` left the aggregator list (opting out, leaving or being ejected); the last
    ///         aggregator of the list took its `position` (nothing moved if it was the last).
    event AggregatorOptedOut(uint32 indexed operatorId, address indexed account, uint256 position);
    event AggregatorConfigUpdated(uint16 maxAggregators, uint32 turnSeconds, uint32 graceSeconds);
    event TreasuryUpdated(address treasury);

    error AlreadyRegistered(address account, uint32 operatorId);
    error NotRegistered(address account);
    error OperatorNotActive(uint32 operatorId);
    error UnknownOperator(uint32 operatorId);
    error StakeBelowMinimum(uint256 stake, uint256 minimum);
    error StakeTooLarge(uint256 stake);
    error OperatorLimitReached(uint256 maxOperators);
    error InvalidPublicKey();
    error KeyAlreadyRegistered(uint32 operatorId);
    error InvalidProofOfPossession();
    error ZeroAmount();
    error NothingToWithdraw(address account);
    error WithdrawalLocked(uint64 unlockBlock, uint256 currentBlock);
    error EndpointTooLong(uint256 length, uint256 maximum);
    error TooManyOperatorSets(uint32 operatorId, uint256 maximum);
    error InvalidRegistryConfig();
    error InvalidSlashBps(uint256 slashBps, uint256 reporterBps);
    /// @notice A reporter may get at most `maximum` basis points (half) of what is slashed, so that
    ///         an offender reporting itself still loses at least half.
    error ReporterShareTooLarge(uint256 reporterBps, uint256 maximum);
    /// @notice A definition update shortened or replaced a dispute period that still runs until
    ///         `openUntilBlock` for the tasks that landed under it: a withdrawal requested now with
    ///         `unbondingDelayBlocks` would unlock before that.
    error SupersededDisputePeriodStillOpen(uint64 openUntilBlock, uint64 unbondingDelayBlocks);
    error AlreadyAggregator(uint32 operatorId);
    error NotAggregator(address account);
    error AggregatorLimitReached(uint256 maxAggregators);
    error EmptyEndpoint();
    /// @notice maxAggregators above MAX_AGGREGATORS, a zero turn, or a grace not shorter than a turn.
    error InvalidAggregatorConfig(uint16 maxAggregators, uint32 turnSeconds, uint32 graceSeconds);
    error ZeroAddress();
    error FlowPaused(uint8 flow);
    error UnknownOperatorSet(uint32 setId);
}

interface IOperatorRegistry is IOperatorRegistryTypes {
    function stakeToken() external view returns (address);
    function registryConfig() external view returns (RegistryConfig memory);
    function treasury() external view returns (address);
    function registerOperator(
        uint256 stake,
        BN254.G1Point calldata pkG1,
        BN254.G2Point calldata pkG2,
        BN254.G1Point calldata proofOfPossession
    ) external returns (uint32 operatorId);
    function increaseStake(uint256 amount) external;
    function requestWithdrawal(uint256 amount) external;
    function withdraw(address to) external;
    function leave() external;
    function ejectOperator(uint32 operatorId) external;
    function updateBlsKey(
        BN254.G1Point calldata pkG1,
        BN254.G2Point calldata pkG2,
        BN254.G1Point calldata proofOfPossession
    ) external;
    function setOperatorEndpoint(string calldata endpoint) external;
    function slashOperator(uint32 operatorId, uint16 slashBps, uint16 reporterBps, address reporter)
        external
        returns (uint256 slashed);
    function setRegistryConfig(RegistryConfig calldata config) external;
    function setTreasury(address treasury) external;
    function operatorCount() external view returns (uint32 registered, uint32 active);
    function operatorIdOf(address account) external view returns (uint32);
    function isActiveOperator(address account) external view returns (bool);
    function getOperator(uint32 operatorId) external view returns (OperatorView memory);
    function activeOperatorIds() external view returns (uint32[] memory);
    function pendingWithdrawal(address account) external view returns (uint96 amount, uint64 unlockBlock);
    /// @notice Who registered a key, and the blocks between which it was theirs (retired 0: current).
    function keyOwner(BN254.G2Point calldata pkG2)
        external
        view
        returns (uint32 operatorId, uint40 addedAtBlock, uint40 retiredAtBlock);
    /// @notice A key's owner (operator id and account) and the blocks and task numbers it answers for.
    function keyRecord(BN254.G2Point calldata pkG2) external view returns (KeyView memory);
    function optInAsAggregator(string calldata endpoint) external;
    function setAggregatorEndpoint(string calldata endpoint) external;
    function optOutAsAggregator() external;
    function setAggregatorConfig(uint16 maxAggregators, uint32 turnSeconds, uint32 graceSeconds) external;
    function aggregatorConfig() external view returns (AggregatorConfig memory);
    /// @notice The aggregators in schedule order: the order `aggregatorTurn` counts positions in.
    function activeAggregators() external view returns (AggregatorView[] memory);
    /// @notice Who may take the aggregator reward of `taskHash` in a block stamped `timestamp`: the
    ///         aggregator on turn and, in the first `graceSeconds` of a turn, the one before (0: none).
    function aggregatorTurn(bytes32 taskHash, uint256 timestamp) external view returns (uint32 onTurn, uint32 inGrace);
    function getOperatorSet(uint32 setId) external view returns (OperatorSetView memory);
    function operatorSetMembers(uint32 setId) external view returns (uint32[] memory ids, uint96[] memory stakes);
    function isSetMember(uint32 setId, uint32 operatorId) external view returns (bool);
}
