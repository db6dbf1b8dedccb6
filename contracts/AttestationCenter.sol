// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {Proxy} from "@openzeppelin/contracts/proxy/Proxy.sol";

import {CenterStorage} from "./core/CenterStorage.sol";
import {IOperatorRegistry} from "./interfaces/IOperatorRegistry.sol";
import {ITaskDefinitions} from "./interfaces/ITaskDefinitions.sol";
import {IAvsLogic} from "./interfaces/IAvsLogic.sol";
import {IFeeCalculator} from "./interfaces/IFeeCalculator.sol";
import {IRewardsVault} from "./interfaces/IRewardsVault.sol";
import {AggregatorSchedule} from "./libraries/AggregatorSchedule.sol";
import {BN254} from "./libraries/BN254.sol";
import {ProtocolHashes, TaskInfo} from "./libraries/ProtocolHashes.sol";

/// @title AttestationCenter
/// @notice The AVS's on-chain entry point: task submission with one aggregate BLS check, reward
///         accounting and claims, AVS hooks, pausing (see `docs/contracts/AttestationCenter.md`).
///         Operator and task-definition functions live in two modules it delegates to, on its own
///         storage: talk to this address with the `IAttestationCenter` ABI, which holds all three.
/// @dev    Why modules: the whole system is over the 24 KiB code-size limit (EIP-170). The
///         submission path stays here, in one contract, with no external call for its reads.
///
///         Signature check, EigenLayer style: the signers' G1 key is the set's stored aggregate minus
///         the non-signers' keys, and `BN254.verifyBound` binds the G2 key the aggregator supplies to
///         it. When nobody is missing, a G2 key already proven to match the whole set (its hash is
///         cached per set, cleared on every membership or key change) saves the binding terms.
contract AttestationCenter is CenterStorage, Proxy {
    /// @notice Flows that `pause` and `unpause` take, as bits.
    uint8 public constant PAUSE_SUBMISSIONS = FLOW_SUBMISSIONS;
    uint8 public constant PAUSE_REGISTRATIONS = FLOW_REGISTRATIONS;
    uint8 public constant PAUSE_CLAIMS = FLOW_CLAIMS;

    IRewardsVault internal immutable _vault;
    /// @notice The module that serves operator functions (and any selector not routed elsewhere).
    address public immutable registryModule;
    /// @notice The module that serves task-definition functions.
    address public immutable definitionsModule;

    /// @notice Modules the center delegates to; both must be built on `CenterStorage`.
    struct Modules {
        address registry;
        address definitions;
    }

    /// @dev What a submission pays, per role.
    struct Fees {
        uint96 attester;
        uint128 performer;
        uint128 aggregator;
    }

    /// @param admin The AVS owner: DEFAULT_ADMIN_ROLE (definitions, roles, configuration) and treasury.
    /// @param definition0 Definition 0, created here: every deployment has it.
    constructor(
        IERC20 stakeToken_,
        IRewardsVault vault,
        address admin,
        RegistryConfig memory config,
        TaskDefinitionParams memory definition0,
        Modules memory modules
    ) {
        if (
            address(stakeToken_) == address(0) || address(vault) == address(0) || admin == address(0)
                || modules.registry.code.length == 0 || modules.definitions.code.length == 0
        ) revert ZeroAddress();
        if (config.maxOperators == 0 || config.maxOperators > type(uint16).max || config.minimumStake == 0) {
            revert InvalidRegistryConfig();
        }
        _vault = vault;
        registryModule = modules.registry;
        definitionsModule = modules.definitions;
        _stakeToken = address(stakeToken_);
        _config = config;
        _treasury = admin;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setConfig[0] = SetConfig({exists: true, restricted: false, retired: false, minimumStake: 0});
        emit RegistryConfigUpdated(config);
        (bool ok, bytes memory returned) = modules.definitions.delegatecall(
            abi.encodeWithSignature(
                "createDefinitionZero((string,uint64,uint256,uint256,uint256,uint64,uint256,uint32[],uint32,(bool,bool,bool,uint16,uint16)))",
                definition0
            )
        );
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(returned, 0x20), mload(returned))
            }
        }
    }

    /// @dev The first bytes of the selectors served by the definitions module, as a 256-bit set: a
    ///      selector whose first byte is not in it goes to the registry after one test, instead of
    ///      after comparing it with every one of them.
    uint256 private constant _DEFINITIONS_FIRST_BYTES = uint256(1) << uint8(bytes1(ITaskDefinitions.createTaskDefinition.selector))
        | uint256(1) << uint8(bytes1(ITaskDefinitions.updateTaskDefinition.selector))
        | uint256(1) << uint8(bytes1(ITaskDefinitions.getTaskDefinition.selector))
        | uint256(1) << uint8(bytes1(ITaskDefinitions.taskDefinitionCount.selector))
        | uint256(1) << uint8(bytes1(ITaskDefinitions.taskDefinitionMembers.selector))
        | uint256(1) << uint8(bytes1(ITaskDefinitions.taskPenaltyTerms.selector))
        | uint256(1) << uint8(bytes1(IOperatorRegistry.optInAsAggregator.selector))
        | uint256(1) << uint8(bytes1(IOperatorRegistry.setAggregatorEndpoint.selector))
        | uint256(1) << uint8(bytes1(IOperatorRegistry.optOutAsAggregator.selector))
        | uint256(1) << uint8(bytes1(IOperatorRegistry.setAggregatorConfig.selector))
        | uint256(1) << uint8(bytes1(IOperatorRegistry.aggregatorConfig.selector))
        | uint256(1) << uint8(bytes1(IOperatorRegistry.activeAggregators.selector))
        | uint256(1) << uint8(bytes1(IOperatorRegistry.aggregatorTurn.selector));

    /// @dev Routes a selector this contract does not have to the module that does.
    function _implementation() internal view override returns (address) {
        bytes4 selector = msg.sig;
        if ((_DEFINITIONS_FIRST_BYTES >> uint8(bytes1(selector))) & 1 == 0) return registryModule;
        if (
            selector == ITaskDefinitions.createTaskDefinition.selector
                || selector == ITaskDefinitions.updateTaskDefinition.selector
                || selector == ITaskDefinitions.getTaskDefinition.selector
                || selector == ITaskDefinitions.taskDefinitionCount.selector
                || selector == ITaskDefinitions.taskDefinitionMembers.selector
                || selector == ITaskDefinitions.taskPenaltyTerms.selector
                || selector == IOperatorRegistry.optInAsAggregator.selector
                || selector == IOperatorRegistry.setAggregatorEndpoint.selector
                || selector == IOperatorRegistry.optOutAsAggregator.selector
                || selector == IOperatorRegistry.setAggregatorConfig.selector
                || selector == IOperatorRegistry.aggregatorConfig.selector
                || selector == IOperatorRegistry.activeAggregators.selector
                || selector == IOperatorRegistry.aggregatorTurn.selector
        ) return definitionsModule;
        return registryModule;
    }

    // ------------------------------------------------------------------------------------------
    // Submission
    // ------------------------------------------------------------------------------------------

    /// @notice Lands a task: checks the definition, the replay record, the performer's signature, the
    ///         quorum on voting power and the aggregate BLS signature; records it, accrues rewards,
    ///         emits TaskSubmitted or TaskRejected and calls the AVS hooks. The caller is the aggregator.
    /// @dev    Order: the checks that need no operator set (pause, definition, expiry, replay,
    ///         performer signature, active performer and aggregator), then `beforeTaskSubmission`,
    ///         then the set is read and the rest is checked (signer counts, fees, quorum, aggregate
    ///         signature), then every state change, then `afterTaskSubmission`. The before-hook thus
    ///         runs before any state change, and the operator set the quorum and the signature are
    ///         checked against is read after it.
    function submitTask(TaskInfo calldata task, TaskSubmission calldata submission) external nonReentrant {
        SetState memory globals = _sets[0];
        if (globals.flags & FLOW_SUBMISSIONS != 0) revert FlowPaused(FLOW_SUBMISSIONS);
        uint16 definitionId = task.taskDefinitionId;
        DefinitionHot memory definition = _defHot[definitionId];
        if (definition.flags & DEF_EXISTS == 0) revert UnknownTaskDefinition(definitionId);
        if (definition.blockExpiry != 0 && block.number > definition.blockExpiry) {
            revert TaskDefinitionExpired(definitionId, definition.blockExpiry);
        }

        bytes32 taskHash_ = ProtocolHashes.taskHash(task);
        if (_tasks[taskHash_].taskNumber != 0) revert TaskAlreadySubmitted(taskHash_);
        bool performerBound = _checkPerformerSignature(taskHash_, task.taskPerformer, submission.tpSignature);
        // A definition that punishes rejected tasks takes only signatures that can be held against
        // their signer: otherwise a performer would escape that penalty by signing the bare taskHash.
        if (!performerBound && definition.flags & DEF_PENALIZE_REJECTED != 0) {
            revert PerformerSignatureNotDomainBound(taskHash_, definitionId);
        }
        if (!_accounts[task.taskPerformer].active) revert PerformerNotActive(task.taskPerformer);
        if (!_accounts[msg.sender].active) revert AggregatorNotActive(msg.sender);

        // Nothing has changed yet. If a later check fails, the transaction reverts with the hook's
        // effects. A hook may call the center (an operator leaving, say): set 0 is read again, and
        // the operator set is read only now.
        bool hooks = globals.flags & HAS_AVS_LOGIC != 0;
        if (hooks) {
            _callHook(true, task, submission);
            globals = _sets[0];
        }

        uint32 setId = definition.setId;
        SetState memory set = setId == 0 ? globals : _sets[setId];
        Fees memory fees = _fees(globals.flags, definition, set.memberCount, task, submission);
        // The first state changes: the non-signers' debits and the G2-key cache.
        uint256 signedPower = _verify(task, submission, setId, set.totalPower, fees.attester);

        uint64 taskNumber;
        unchecked {
            taskNumber = uint64(globals.taskCount) + 1; // the counter is a uint40
        }
        _tasks[taskHash_] = StoredTask({
            taskNumber: taskNumber,
            submittedAtBlock: uint40(block.number),
            isApproved: submission.isApproved,
            supermajority: _isSupermajority(signedPower, set.totalPower),
            performerBound: performerBound
        });
        _recordTask(globals, setId, uint40(taskNumber), fees.attester);
        if (fees.performer != 0 && submission.isApproved) _accounts[task.taskPerformer].credit += fees.performer;
        if (fees.aggregator != 0) {
            if (globals.flags & HAS_AGGREGATORS == 0) _accounts[msg.sender].credit += fees.aggregator;
            else _creditScheduledAggregator(taskHash_, fees.aggregator);
        }

        _emitSubmitted(taskNumber, taskHash_, task, submission, signedPower, set.totalPower);

        if (hooks) _callHook(false, task, submission);
    }

    /// @dev Once operators opted in as aggregators, the aggregator reward goes only to the one on turn
    ///      (or in its grace), and to nobody else (docs/decisions/0015). With no aggregator,
    ///      `submitTask` pays the caller as before, for one flag test more. A caller off the list
    ///      reads nothing more; one on it reads the aggregator config word.
    function _creditScheduledAggregator(bytes32 taskHash_, uint128 reward) internal {
        Account storage account = _accounts[msg.sender];
        if (!_onTurn(taskHash_, account.aggregatorPosition)) {
            emit AggregatorRewardForfeited(taskHash_, msg.sender, reward);
            return;
        }
        account.credit += reward;
    }

    function _onTurn(bytes32 taskHash_, uint16 positionPlusOne) internal view returns (bool) {
        if (positionPlusOne == 0) return false;
        AggregatorConfig memory config = _aggregatorConfig;
        unchecked {
            return AggregatorSchedule.earns(
                taskHash_, block.timestamp, positionPlusOne - 1, config.count, config.turnSeconds, config.graceSeconds
            );
        }
    }

    /// @dev Counts the task (set 0 holds the counter) and adds the attester reward to the set's
    ///      index. For a definition on set 0 both land in one storage word, written once from
    ///      `globals`: set 0 as read after the before-hook (nothing since writes it).
    function _recordTask(SetState memory globals, uint32 setId, uint40 taskNumber, uint96 attesterReward) internal {
        if (setId == 0) {
            globals.taskCount = taskNumber;
            if (attesterReward != 0) globals.rewardIndex = _addToIndex(globals.rewardIndex, attesterReward, 0);
            _sets[0] = globals;
            return;
        }
        _sets[0].taskCount = taskNumber;
        if (attesterReward == 0) return;
        SetState storage set = _sets[setId];
        set.rewardIndex = _addToIndex(set.rewardIndex, attesterReward, setId);
    }

    function _addToIndex(uint96 index, uint96 reward, uint32 setId) internal pure returns (uint96) {
        uint256 sum;
        unchecked {
            sum = uint256(index) + reward; // two uint96 values
        }
        if (sum > type(uint96).max) revert RewardIndexOverflow(setId);
        return uint96(sum);
    }

    /// @dev Quorum on voting power, then the aggregate BLS signature. Charges each non-signer the
    ///      attester reward it forfeits. Returns the signers' voting power.
    function _verify(
        TaskInfo calldata task,
        TaskSubmission calldata submission,
        uint32 setId,
        uint256 totalPower,
        uint96 attesterReward
    ) internal returns (uint256 signedPower) {
        uint32[] calldata nonSigners = submission.nonSignerIds;
        bytes32 digest = ProtocolHashes.voteHash(task, address(this), block.chainid, submission.isApproved);
        bool valid;
        if (nonSigners.length == 0) {
            signedPower = totalPower;
            _checkQuorum(submission.isApproved, signedPower, totalPower);
            bytes32 apkG2Hash = keccak256(abi.encode(submission.signersApkG2));
            if (apkG2Hash == _setApkG2Hash[setId]) {
                valid = BN254.verifyWithG2(digest, submission.signersApkG2, submission.taSignature);
            } else {
                valid = BN254.verifyBound(digest, _setApk[setId], submission.signersApkG2, submission.taSignature);
                // The key now provably matches the whole set: later submissions skip the binding terms.
                if (valid) _setApkG2Hash[setId] = apkG2Hash;
            }
        } else {
            BN254.G1Point memory missing;
            uint256 missingPower;
            (missing, missingPower) = _chargeNonSigners(nonSigners, setId, attesterReward);
            signedPower = totalPower - missingPower;
            _checkQuorum(submission.isApproved, signedPower, totalPower);
            BN254.G1Point memory apkG1 = BN254.plus(_setApk[setId], BN254.negate(missing));
            valid = BN254.verifyBound(digest, apkG1, submission.signersApkG2, submission.taSignature);
        }
        if (!valid) revert InvalidAggregateSignature();
    }

    function _chargeNonSigners(uint32[] calldata ids, uint32 setId, uint96 attesterReward)
        internal
        returns (BN254.G1Point memory missing, uint256 missingPower)
    {
        uint32 previous;
        for (uint256 i; i < ids.length; ++i) {
            uint32 id = ids[i];
            if (id <= previous) revert NonSignersNotSorted(i);
            previous = id;
            OperatorState storage state = _opState[id];
            bool member = setId == 0 ? state.status == STATUS_ACTIVE : _membership[setId][id].member;
            if (!member) revert NonSignerNotInSet(id, setId);
            missingPower += state.stake;
            if (attesterReward != 0) state.debit += attesterReward;
            missing = BN254.plus(missing, _pkG1[id]);
        }
    }

    function _callHook(bool before, TaskInfo calldata task, TaskSubmission calldata submission) internal {
        address logic = _avsLogic;
        if (before) {
            IAvsLogic(logic).beforeTaskSubmission(
                task, submission.isApproved, submission.tpSignature, submission.taSignature, submission.nonSignerIds
            );
        } else {
            IAvsLogic(logic).afterTaskSubmission(
                task, submission.isApproved, submission.tpSignature, submission.taSignature, submission.nonSignerIds
            );
        }
    }

    /// @dev Approve: more than 2/3 of the power. Reject: at least 1/3. Both cannot hold without a
    ///      double vote, which is slashable.
    function _checkQuorum(bool isApproved, uint256 signedPower, uint256 totalPower) internal pure {
        bool reached = isApproved ? _isSupermajority(signedPower, totalPower) : _isThird(signedPower, totalPower);
        if (!reached || signedPower == 0) revert QuorumNotReached(isApproved, signedPower, totalPower);
    }

    /// @dev More than two thirds: what an approval needs. A rejection that lands with it is a verdict
    ///      the approve side could not have outvoted (the PenaltyManager punishes only those).
    function _isSupermajority(uint256 signedPower, uint256 totalPower) internal pure returns (bool) {
        unchecked {
            return signedPower * 3 > totalPower * 2; // both at most a set total, below 2**96
        }
    }

    function _isThird(uint256 signedPower, uint256 totalPower) internal pure returns (bool) {
        unchecked {
            return signedPower * 3 >= totalPower; // both at most a set total, below 2**96
        }
    }

    /// @dev Checks the signer count against the definition's limit and prices the task.
    function _fees(
        uint8 flags,
        DefinitionHot memory definition,
        uint256 members,
        TaskInfo calldata task,
        TaskSubmission calldata submission
    ) internal view returns (Fees memory fees) {
        uint256 nonSigners = submission.nonSignerIds.length;
        if (nonSigners > members) revert TooManyNonSigners(nonSigners, members);
        uint256 signers;
        unchecked {
            signers = members - nonSigners; // checked just above
        }
        if (definition.maxAttesters != 0 && signers > definition.maxAttesters) {
            revert TooManyAttesters(signers, definition.maxAttesters);
        }
        if (flags & HAS_FEE_CALCULATOR == 0) {
            return Fees(
                uint96(_unpackAmount(definition.attesterReward)),
                uint128(_unpackAmount(definition.performerReward)),
                uint128(_unpackAmount(definition.aggregatorReward))
            );
        }
        (uint256 attester, uint256 performer, uint256 aggregator) =
            IFeeCalculator(_feeCalculator).calculateFees(task, submission.isApproved, signers);
        if (attester > type(uint96).max) revert RewardTooLarge(attester, type(uint96).max);
        if (performer > type(uint128).max) revert RewardTooLarge(performer, type(uint128).max);
        if (aggregator > type(uint128).max) revert RewardTooLarge(aggregator, type(uint128).max);
        return Fees(uint96(attester), uint128(performer), uint128(aggregator));
    }

    /// @dev The performer's ECDSA signature, raw (no EIP-191 prefix), over the domain-bound digest
    ///      (`ProtocolHashes.performerHash`, what our performers sign: one recovery on the happy path)
    ///      or else over the bare taskHash (what Othentic performers sign). Returns whether it was the
    ///      bound digest: only then can the task cost its performer a slash (PenaltyManager), as a bare
    ///      signature may have been made for another center or chain. A refusal names the address the
    ///      signature recovers to over the bound digest (zero when it recovers to nothing).
    function _checkPerformerSignature(bytes32 taskHash_, address performer, bytes calldata signature)
        internal
        view
        returns (bool bound)
    {
        if (signature.length != 65) revert InvalidPerformerSignature(performer, address(0));
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        unchecked {
            if (v < 27) v += 27; // Othentic's Go performers add 27, others send 0 or 1
        }
        bytes32 boundDigest = ProtocolHashes.performerHash(taskHash_, address(this), block.chainid);
        (address recovered, ECDSA.RecoverError error_,) = ECDSA.tryRecover(boundDigest, v, r, s);
        if (error_ == ECDSA.RecoverError.NoError && recovered == performer) return true;
        (address bare, ECDSA.RecoverError bareError,) = ECDSA.tryRecover(taskHash_, v, r, s);
        if (bareError != ECDSA.RecoverError.NoError || bare != performer) {
            revert InvalidPerformerSignature(performer, recovered);
        }
    }

    function _emitSubmitted(
        uint64 taskNumber,
        bytes32 taskHash_,
        TaskInfo calldata task,
        TaskSubmission calldata submission,
        uint256 signedPower,
        uint256 totalPower
    ) internal {
        if (submission.isApproved) {
            emit TaskSubmitted(
                taskNumber, task.taskDefinitionId, taskHash_, task.taskPerformer, msg.sender,
                task.proofOfTask, task.data, submission.nonSignerIds, signedPower, totalPower
            );
        } else {
            emit TaskRejected(
                taskNumber, task.taskDefinitionId, taskHash_, task.taskPerformer, msg.sender,
                task.proofOfTask, task.data, submission.nonSignerIds, signedPower, totalPower
            );
        }
    }

    // ------------------------------------------------------------------------------------------
    // Rewards
    // ------------------------------------------------------------------------------------------

    /// @dev Pull payment: the vault pays `to`; if it holds too little, the vault's error reverts the
    ///      whole claim and nothing accrued is lost.
    function claimRewards(address to, uint256 amount) external nonReentrant {
        _requireFlow(FLOW_CLAIMS);
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        uint256 claimable = claimableRewards(msg.sender);
        if (amount > claimable) revert ClaimExceedsRewards(amount, claimable);
        _claimed[msg.sender] += amount;
        _vault.payOut(to, amount);
        emit RewardsClaimed(msg.sender, to, amount);
    }

    function claimableRewards(address account) public view returns (uint256) {
        Account memory acc = _accounts[account];
        uint256 earned = acc.credit;
        if (acc.active) earned = earned + _unsettledRewards(acc.operatorId) - _opState[acc.operatorId].debit;
        return earned - _claimed[account];
    }

    function claimedRewards(address account) external view returns (uint256) {
        return _claimed[account];
    }

    // ------------------------------------------------------------------------------------------
    // Administration
    // ------------------------------------------------------------------------------------------

    function pause(uint8 flows) external {
        if (!hasRole(PAUSER_ROLE, msg.sender)) _checkRole(DEFAULT_ADMIN_ROLE);
        if (flows == 0 || flows & ~ALL_FLOWS != 0) revert InvalidFlows(flows);
        _sets[0].flags |= flows;
        emit FlowsPaused(flows, msg.sender);
    }

    function unpause(uint8 flows) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (flows == 0 || flows & ~ALL_FLOWS != 0) revert InvalidFlows(flows);
        _sets[0].flags &= ~flows;
        emit FlowsUnpaused(flows, msg.sender);
    }

    function setAvsLogic(address avsLogic_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _avsLogic = avsLogic_;
        _setFlag(HAS_AVS_LOGIC, avsLogic_ != address(0));
        emit AvsLogicUpdated(avsLogic_);
    }

    function setFeeCalculator(address feeCalculator_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _feeCalculator = feeCalculator_;
        _setFlag(HAS_FEE_CALCULATOR, feeCalculator_ != address(0));
        emit FeeCalculatorUpdated(feeCalculator_);
    }

    function _setFlag(uint8 flag, bool on) internal {
        if (on) _sets[0].flags |= flag;
        else _sets[0].flags &= ~flag;
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    function rewardsVault() external view returns (address) {
        return address(_vault);
    }

    function avsLogic() external view returns (address) {
        return _avsLogic;
    }

    function feeCalculator() external view returns (address) {
        return _feeCalculator;
    }

    function pausedFlows() external view returns (uint8) {
        return _sets[0].flags & ALL_FLOWS;
    }

    function taskCount() external view returns (uint64) {
        return _sets[0].taskCount;
    }

    function taskRecord(bytes32 taskHash_) external view returns (TaskRecord memory) {
        StoredTask memory stored = _tasks[taskHash_];
        return TaskRecord(stored.taskNumber, stored.submittedAtBlock, stored.isApproved);
    }

    function taskHash(TaskInfo calldata task) external pure returns (bytes32) {
        return ProtocolHashes.taskHash(task);
    }

    function voteHash(TaskInfo calldata task, bool isApproved) external view returns (bytes32) {
        return ProtocolHashes.voteHash(task, address(this), block.chainid, isApproved);
    }
}
