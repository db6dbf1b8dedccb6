// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {IAvsLogic} from "../interfaces/IAvsLogic.sol";
import {BN254} from "../libraries/BN254.sol";
import {TaskInfo} from "../libraries/ProtocolHashes.sol";

/// @notice Test-only hooks: count calls, remember the last task, revert on demand.
contract TestAvsLogic is IAvsLogic {
    error HookRejected(string reason);

    uint256 public beforeCalls;
    uint256 public afterCalls;
    bool public revertBefore;
    bool public revertAfter;
    string public lastProofOfTask;
    bool public lastIsApproved;
    uint256 public lastNonSignerCount;

    function setReverts(bool before_, bool after_) external {
        revertBefore = before_;
        revertAfter = after_;
    }

    function beforeTaskSubmission(TaskInfo calldata task, bool isApproved, bytes calldata, BN254.G1Point calldata, uint32[] calldata nonSignerIds)
        external
    {
        if (revertBefore) revert HookRejected("before hook says no");
        beforeCalls += 1;
        lastProofOfTask = task.proofOfTask;
        lastIsApproved = isApproved;
        lastNonSignerCount = nonSignerIds.length;
    }

    function afterTaskSubmission(TaskInfo calldata, bool, bytes calldata, BN254.G1Point calldata, uint32[] calldata) external {
        if (revertAfter) revert HookRejected("after hook says no");
        afterCalls += 1;
    }
}
