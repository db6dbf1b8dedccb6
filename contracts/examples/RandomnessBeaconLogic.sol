// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {IAvsLogic} from "../interfaces/IAvsLogic.sol";
import {BN254} from "../libraries/BN254.sol";
import {TaskInfo} from "../libraries/ProtocolHashes.sol";

/// @title RandomnessBeaconLogic (example AVS)
/// @notice Mixes each approved contribution into an on-chain random value. A task's data is
///         `abi.encode(uint64 round, bytes32 value)`, where the round is the block that elected its
///         performer. Rounds only move forward: a stale round makes the submission revert (the
///         aggregator sees `StaleRound` as the reason).
contract RandomnessBeaconLogic is IAvsLogic {
    address public immutable caller;
    bytes32 public randomness;
    uint64 public lastRound;
    uint256 public contributions;

    event RandomnessUpdated(uint64 indexed round, bytes32 contribution, bytes32 randomness, address performer);

    error NotCaller(address sender);
    error MalformedBeaconData(uint256 length);
    error StaleRound(uint64 round, uint64 lastRound);

    constructor(address caller_) {
        caller = caller_;
        randomness = keccak256(abi.encode(block.chainid, address(this)));
    }

    function beforeTaskSubmission(TaskInfo calldata task, bool isApproved, bytes calldata, BN254.G1Point calldata, uint32[] calldata)
        external
        view
    {
        if (msg.sender != caller) revert NotCaller(msg.sender);
        if (task.data.length != 64) revert MalformedBeaconData(task.data.length);
        if (!isApproved) return;
        (uint64 round,) = abi.decode(task.data, (uint64, bytes32));
        if (round <= lastRound) revert StaleRound(round, lastRound);
    }

    function afterTaskSubmission(
        TaskInfo calldata task,
        bool isApproved,
        bytes calldata,
        BN254.G1Point calldata taSignature,
        uint32[] calldata
    ) external {
        if (msg.sender != caller) revert NotCaller(msg.sender);
        if (!isApproved) return;
        (uint64 round, bytes32 value) = abi.decode(task.data, (uint64, bytes32));
        // The aggregate BLS signature is unpredictable to the performer alone: mixing it in keeps
        // one operator from choosing the outcome by picking its contribution.
        randomness = keccak256(abi.encode(randomness, value, taSignature.X, taSignature.Y, block.prevrandao));
        lastRound = round;
        contributions += 1;
        emit RandomnessUpdated(round, value, randomness, task.taskPerformer);
    }
}
