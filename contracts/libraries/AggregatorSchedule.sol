// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

/// @title AggregatorSchedule
/// @notice Whose turn it is to land a task, computed the same way on-chain and off-chain (the Python
///         twin is `othentic_offchain/chain/schedule.py`); see docs/decisions/0015-aggregator-schedule.md.
/// @dev    Time is cut into turns of `turnSeconds` of block time, the same for every task (turn `k`
///         covers timestamps `[k * turnSeconds, (k + 1) * turnSeconds)`). Over the list of `count`
///         aggregators, task `taskHash` starts at position `taskHash mod count` at turn 0 and moves
///         one place down the list each turn:
///
///             position(taskHash, t) = (taskHash mod count + (t / turnSeconds) mod count) mod count
///
///         So whoever is on turn when a task is ready is its primary, the next one in the list its
///         first backup, whose turn starts `turnSeconds` later, and so on round the list. Nothing in
///         it is chosen by the submitter: the only time it reads is the block's.
library AggregatorSchedule {
    /// @notice The list position (0 to count - 1) on turn for `taskHash` at `timestamp`.
    /// @dev    `count` and `turnSeconds` must be non-zero (the caller's invariant).
    function position(bytes32 taskHash, uint256 timestamp, uint256 count, uint256 turnSeconds)
        internal
        pure
        returns (uint256)
    {
        unchecked {
            // Both terms are below count (at most 2**16), so the sum cannot overflow.
            return (uint256(taskHash) % count + (timestamp / turnSeconds) % count) % count;
        }
    }

    /// @notice Whether list position `mine` may take the aggregator reward of `taskHash` at
    ///         `timestamp`: it is on turn, or its turn ended less than `graceSeconds` ago.
    function earns(
        bytes32 taskHash,
        uint256 timestamp,
        uint256 mine,
        uint256 count,
        uint256 turnSeconds,
        uint256 graceSeconds
    ) internal pure returns (bool) {
        if (position(taskHash, timestamp, count, turnSeconds) == mine) return true;
        return graceSeconds != 0 && timestamp >= graceSeconds
            && position(taskHash, timestamp - graceSeconds, count, turnSeconds) == mine;
    }
}
