// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {IAvsLogic} from "../interfaces/IAvsLogic.sol";
import {BN254} from "../libraries/BN254.sol";
import {TaskInfo} from "../libraries/ProtocolHashes.sol";

/// @title RandomnessBeaconLogic (example AVS)
/// @notice Mixes each approved contribution into an on-chain random value. A task's data is
///         `abi.encode(uint64 round, uint256 x, uint256 y)`: the round is the block that elected its
///         performer, and (x, y) the performer's BLS signature (a G1 point) over the round's digest
///         (`round_hash` in othentic_offchain/crypto/hashes.py: domain tag, attestation center, chain
///         id, definition id, round), which the attesters check against the performer's registered
///         key before they approve. Rounds only move forward: a stale round makes the submission revert
///         (the aggregator sees `StaleRound` as the reason).
/// @dev    What the output guarantees. `randomness = keccak256(previous randomness, keccak256(x, y))`
///         and nothing else:
///         * BLS signatures are unique per key and message, so the performer cannot pick its
///           contribution, and nobody without its key can compute it before it is revealed;
///         * the aggregator cannot grind the output: it does not depend on which quorum of signers it
///           aggregates (the aggregate signature is not mixed in) nor on the block the submission
///           lands in (no block.prevrandao, which the aggregator could pick by timing its submission
///           and a block proposer could bias).
///         What remains: the elected performer learns its round's output first and may withhold
///         its round (the next elected performer's round then follows), a one-bit bias per round
///         it performs. Its contribution is checked by the attesters, not here (a pairing would cost
///         about 113,000 gas per round): a quorum that approves a value that is not the performer's
///         signature can choose the output, as a quorum can approve any task's data.
contract RandomnessBeaconLogic is IAvsLogic {
    address public immutable caller;
    bytes32 public randomness;
    uint64 public lastRound;
    uint256 public contributions;

    /// @param contribution keccak256 of the performer's round signature (x, y), what was mixed in.
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
        if (task.data.length != 96) revert MalformedBeaconData(task.data.length);
        if (!isApproved) return;
        (uint64 round,,) = abi.decode(task.data, (uint64, uint256, uint256));
        if (round <= lastRound) revert StaleRound(round, lastRound);
    }

    function afterTaskSubmission(
        TaskInfo calldata task,
        bool isApproved,
        bytes calldata,
        BN254.G1Point calldata,
        uint32[] calldata
    ) external {
        if (msg.sender != caller) revert NotCaller(msg.sender);
        if (!isApproved) return;
        (uint64 round,,) = abi.decode(task.data, (uint64, uint256, uint256));
        // Only the performer's unique signature and the previous output: nothing the aggregator picks.
        bytes32 contribution = keccak256(task.data[32:96]);
        bytes32 next = keccak256(abi.encode(randomness, contribution));
        randomness = next;
        lastRound = round;
        contributions += 1;
        emit RandomnessUpdated(round, contribution, next, task.taskPerformer);
    }
}
