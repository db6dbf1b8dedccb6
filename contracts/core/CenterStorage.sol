// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IAttestationCenterTypes} from "../interfaces/IAttestationCenter.sol";
import {BN254} from "../libraries/BN254.sol";

/// @title CenterStorage
/// @notice The one storage layout shared by the attestation center and the two modules it delegates
///         to (OperatorRegistry, TaskDefinitions). Every state variable of the three lives here, in
///         this order, and nowhere else: a module that declared its own would corrupt the center.
/// @dev    Hot slots (read by every `submitTask`) are packed so that a submission touches as few
///         words as possible: set 0's `SetState` (which also carries the global task counter and
///         flags), the definition's `DefinitionHot`, its set's `SetState` and G2-key cache, and the
///         performer's and aggregator's `Account`.
abstract contract CenterStorage is IAttestationCenterTypes, AccessControl, ReentrancyGuardTransient {
    bytes32 public constant EJECTOR_ROLE = keccak256("EJECTOR_ROLE");
    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    uint8 internal constant FLOW_SUBMISSIONS = 1;
    uint8 internal constant FLOW_REGISTRATIONS = 2;
    uint8 internal constant FLOW_CLAIMS = 4;
    uint8 internal constant ALL_FLOWS = FLOW_SUBMISSIONS | FLOW_REGISTRATIONS | FLOW_CLAIMS;
    uint8 internal constant HAS_AVS_LOGIC = 8;
    uint8 internal constant HAS_FEE_CALCULATOR = 16;
    /// @dev At least one operator has opted in as an aggregator: the aggregator reward follows the
    ///      schedule. Clear, `submitTask` reads nothing more than before.
    uint8 internal constant HAS_AGGREGATORS = 32;

    uint8 internal constant STATUS_ACTIVE = 1;
    uint8 internal constant STATUS_EXITED = 2;

    uint8 internal constant DEF_EXISTS = 1;
    uint8 internal constant DEF_PENALIZE_DOUBLE = 2;
    uint8 internal constant DEF_PENALIZE_INCORRECT = 4;
    uint8 internal constant DEF_PENALIZE_REJECTED = 8;
    uint8 internal constant DEF_PENALTY_SWITCHES = DEF_PENALIZE_DOUBLE | DEF_PENALIZE_INCORRECT | DEF_PENALIZE_REJECTED;

    /// @dev A reporter gets at most half of a slash: an offender that reports itself first (and so
    ///      blocks every other report of the offence) still loses at least half of it.
    uint16 internal constant MAX_REPORTER_BPS = 5_000;

    /// @dev Per operator id; the slot a non-signer costs.
    struct OperatorState {
        uint96 stake;
        uint128 debit; // cumulative attester rewards forfeited as a non-signer
        uint8 status;
    }

    struct OperatorInfo {
        address account;
        uint40 registeredAtBlock;
        uint40 exitedAtBlock;
    }

    /// @dev Per address; read by every submission for the performer and the aggregator.
    struct Account {
        uint32 operatorId; // the current or latest id of this address
        bool active;
        uint128 credit; // performer and aggregator rewards, and attester rewards of sets left
        uint16 aggregatorPosition; // place in the aggregator list plus one; 0: not an aggregator
    }

    struct Withdrawal {
        uint96 amount;
        uint64 unlockBlock;
    }

    /// @dev One slot per set, read and written by every submission. Every submission also reads
    ///      and writes set 0's slot, so that slot carries the contract's globals too: a definition
    ///      on set 0 (the common case) then touches one word for both.
    struct SetState {
        uint96 totalPower;
        uint16 memberCount;
        uint96 rewardIndex; // cumulative attester reward per member
        uint40 taskCount; // set 0 only: tasks landed, all definitions
        uint8 flags; // set 0 only: paused FLOW_* bits, HAS_AVS_LOGIC, HAS_FEE_CALCULATOR, HAS_AGGREGATORS
    }

    struct SetConfig {
        bool exists;
        bool restricted;
        bool retired;
        uint96 minimumStake;
    }

    struct Membership {
        bool listed;
        bool member;
        uint96 checkpoint; // the set's rewardIndex when the operator last joined it
    }

    /// @dev The blocks are for readers; the task counts decide, exactly even within one block: the
    ///      key answers for task number n when addedAtTaskCount < n and, once retired,
    ///      n <= retiredAtTaskCount.
    struct KeyRecord {
        uint32 operatorId;
        uint40 addedAtBlock;
        uint40 retiredAtBlock; // 0 while the key is current; set by a rotation, leaving or ejection
        uint40 addedAtTaskCount; // set 0's taskCount when the key became the operator's
        uint40 retiredAtTaskCount; // set 0's taskCount when it was retired
    }

    /// @dev A landed task, keyed by its hash (`taskRecord` returns the first three fields).
    struct StoredTask {
        uint64 taskNumber;
        uint40 submittedAtBlock;
        bool isApproved;
        bool supermajority; // the landed side carried more than two thirds of the voting power
        bool performerBound; // the performer signed the domain-bound digest, not the bare taskHash
    }

    /// @dev One entry of a definition's penalty history: the settings that judge the tasks numbered
    ///      above `sinceTaskCount` (up to the next entry's). Written by definition changes only, so
    ///      `submitTask` pays nothing for it.
    struct PenaltyTerms {
        uint40 sinceTaskCount;
        uint64 disputePeriodBlocks;
        uint8 switches; // DEF_PENALIZE_* bits
        uint16 slashBps;
        uint16 reporterBps;
    }

    /// @dev Per definition: everything a submission needs from it, in one slot. Rewards are kept as
    ///      decimal floats (see `_unpackAmount`): exact for any amount with up to 15 significant digits.
    struct DefinitionHot {
        uint24 setId;
        uint40 blockExpiry;
        uint16 maxAttesters;
        uint8 flags;
        uint56 attesterReward;
        uint56 performerReward;
        uint56 aggregatorReward;
    }

    struct DefinitionCold {
        uint64 disputePeriodBlocks;
        uint96 minimumVotingPower;
        uint16 slashBps;
        uint16 reporterBps;
    }

    // --- globals ---------------------------------------------------------------------------------
    RegistryConfig internal _config;
    address internal _avsLogic;
    address internal _stakeToken;
    address internal _treasury;
    address internal _feeCalculator;
    uint32 internal _lastOperatorId;
    uint32 internal _lastSetId;
    uint32 internal _definitionCount;

    // --- operators -------------------------------------------------------------------------------
    mapping(uint32 => OperatorState) internal _opState;
    mapping(uint32 => OperatorInfo) internal _opInfo;
    mapping(uint32 => BN254.G1Point) internal _pkG1;
    mapping(uint32 => BN254.G2Point) internal _pkG2;
    mapping(uint32 => string) internal _endpoint;
    mapping(address => Account) internal _accounts;
    mapping(address => Withdrawal) internal _withdrawals;
    mapping(address => uint256) internal _claimed;
    mapping(bytes32 => KeyRecord) internal _keys; // keccak256(abi.encode(pkG2)) => owner
    uint32[] internal _activeIds;
    mapping(uint32 => uint256) internal _activeIndex; // position in _activeIds, plus one

    // --- operator sets ---------------------------------------------------------------------------
    mapping(uint32 => SetState) internal _sets;
    mapping(uint32 => BN254.G1Point) internal _setApk;
    /// @dev keccak256 of the set's aggregate G2 key once a submission proved it matches `_setApk`;
    ///      cleared whenever membership or a member's key changes.
    mapping(uint32 => bytes32) internal _setApkG2Hash;
    mapping(uint32 => SetConfig) internal _setConfig;
    mapping(uint32 => mapping(uint32 => Membership)) internal _membership;
    mapping(uint32 => uint32[]) internal _listedSets; // operator => restricted sets listing it
    mapping(uint32 => uint32[]) internal _setListedIds; // restricted set => operators it lists
    uint32[] internal _openSets; // open sets with a minimum stake

    // --- task definitions and tasks --------------------------------------------------------------
    mapping(uint16 => DefinitionHot) internal _defHot;
    mapping(uint16 => DefinitionCold) internal _defCold;
    mapping(uint16 => string) internal _defName;
    mapping(uint16 => uint32[]) internal _defRestricted;
    mapping(bytes32 => StoredTask) internal _tasks;
    mapping(uint16 => PenaltyTerms[]) internal _penaltyHistory;
    /// @dev The last block at which a report may still be judged by a dispute period that a
    ///      definition update replaced (withdrawals must not unlock before it).
    uint64 internal _supersededDisputesOpenUntil;

    // --- aggregators (docs/decisions/0015-aggregator-schedule.md) --------------------------------
    /// @dev Limit, turn length and grace, and the list's length: the one word a scheduled
    ///      submission reads beyond the account it already reads.
    AggregatorConfig internal _aggregatorConfig;
    mapping(uint256 => uint32) internal _aggregatorAt; // schedule position => operator id
    mapping(uint32 => string) internal _aggregatorEndpoint;

    /// @dev A packed amount is `mantissa << 5 | exponent` with a 51-bit mantissa: `mantissa * 10**exponent`.
    function _unpackAmount(uint56 packed) internal pure returns (uint256) {
        return uint256(packed >> 5) * 10 ** uint256(packed & 31);
    }

    function _requireFlow(uint8 flow) internal view {
        if (_sets[0].flags & flow != 0) revert FlowPaused(flow);
    }

    /// @dev Attester rewards an active id has earned in its sets and not yet settled into credit.
    function _unsettledRewards(uint32 id) internal view returns (uint256 total) {
        total = _sets[0].rewardIndex - _membership[0][id].checkpoint;
        uint32[] storage listed = _listedSets[id];
        for (uint256 i; i < listed.length; ++i) {
            total += _earnedIn(listed[i], id);
        }
        uint256 open = _openSets.length;
        for (uint256 i; i < open; ++i) {
            total += _earnedIn(_openSets[i], id);
        }
    }

    function _earnedIn(uint32 setId, uint32 id) private view returns (uint256) {
        Membership memory membership = _membership[setId][id];
        return membership.member ? _sets[setId].rewardIndex - membership.checkpoint : 0;
    }
}
