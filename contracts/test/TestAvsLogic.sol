// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {IAvsLogic} from "../interfaces/IAvsLogic.sol";
import {BN254} from "../libraries/BN254.sol";
import {TaskInfo} from "../libraries/ProtocolHashes.sol";

interface ICenterReads {
    function claimableRewards(address account) external view returns (uint256);
    function taskCount() external view returns (uint64);
}

/// @notice Test-only hooks: count calls, remember the last task, revert on demand, record what the
///         center looked like from inside the before-hook (once `watch` names an account; the
///         center must then call it directly), and make a call from it (so that a test can act on
///         the center in the middle of a submission). Works behind an AvsLogicRouter otherwise.
contract TestAvsLogic is IAvsLogic {
    error HookRejected(string reason);
    error CallFailed(bytes returned);

    uint256 public beforeCalls;
    uint256 public afterCalls;
    bool public revertBefore;
    bool public revertAfter;
    string public lastProofOfTask;
    bool public lastIsApproved;
    uint256 public lastNonSignerCount;

    address public watched; // an account whose claimable rewards the before-hook records
    uint256 public claimableSeenBefore;
    uint64 public taskCountSeenBefore;
    address public callTarget; // a call the before-hook makes, if set
    bytes public callData;

    function setReverts(bool before_, bool after_) external {
        revertBefore = before_;
        revertAfter = after_;
    }

    function watch(address account) external {
        watched = account;
    }

    function setBeforeCall(address target, bytes calldata data) external {
        callTarget = target;
        callData = data;
    }

    /// @notice Acts as an account (approve tokens, register as an operator, ...).
    function execute(address target, bytes calldata data) external returns (bytes memory) {
        return _call(target, data);
    }

    function beforeTaskSubmission(TaskInfo calldata task, bool isApproved, bytes calldata, BN254.G1Point calldata, uint32[] calldata nonSignerIds)
        external
    {
        if (revertBefore) revert HookRejected("before hook says no");
        beforeCalls += 1;
        lastProofOfTask = task.proofOfTask;
        lastIsApproved = isApproved;
        lastNonSignerCount = nonSignerIds.length;
        // Reads the center only when asked to: behind an AvsLogicRouter the caller is the router.
        if (watched != address(0)) {
            claimableSeenBefore = ICenterReads(msg.sender).claimableRewards(watched);
            taskCountSeenBefore = ICenterReads(msg.sender).taskCount();
        }
        if (callTarget != address(0)) _call(callTarget, callData);
    }

    function afterTaskSubmission(TaskInfo calldata, bool, bytes calldata, BN254.G1Point calldata, uint32[] calldata) external {
        if (revertAfter) revert HookRejected("after hook says no");
        afterCalls += 1;
    }

    function _call(address target, bytes memory data) internal returns (bytes memory returned) {
        bool ok;
        (ok, returned) = target.call(data);
        if (!ok) revert CallFailed(returned);
    }
}
