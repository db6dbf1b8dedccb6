// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {IAvsLogic} from "../interfaces/IAvsLogic.sol";
import {BN254} from "../libraries/BN254.sol";
import {TaskInfo} from "../libraries/ProtocolHashes.sol";

/// @title PriceOracleLogic (example AVS)
/// @notice Stores the latest approved price per pair. A task's data is
///         `abi.encode(bytes32 pair, uint256 price, uint64 observedAt)` with the price in 1e8 units.
///         Its caller is the attestation center or an AvsLogicRouter in front of it: either way
///         the hook only sees tasks whose quorum and aggregate signature were verified.
///         Only an observation newer than the pair's stored one replaces it, so one dated far in the
///         future would freeze the pair until then: the attesters refuse observations outside a window
///         around their clocks, and this contract refuses any approved observation dated more than
///         `MAX_FUTURE_DRIFT` after the block, so that not even a quorum can freeze a pair for longer.
contract PriceOracleLogic is IAvsLogic {
    struct Price {
        uint256 price;
        uint64 observedAt;
        uint64 updatedAtBlock;
        address performer;
    }

    /// @notice How far after `block.timestamp` an approved observation may be dated (clock skew
    ///         between the price source, the attesters and the chain).
    uint256 public constant MAX_FUTURE_DRIFT = 5 minutes;

    address public immutable caller;
    mapping(bytes32 => Price) internal _latest;
    uint256 public updates;

    event PriceUpdated(bytes32 indexed pair, uint256 price, uint64 observedAt, address performer);

    error NotCaller(address sender);
    error MalformedPriceData(uint256 length);
    error ObservationFromTheFuture(uint64 observedAt, uint256 latestAllowed);

    constructor(address caller_) {
        caller = caller_;
    }

    /// @notice Refuses data that is not one (pair, price, time) record, and an approved observation
    ///         dated after `block.timestamp + MAX_FUTURE_DRIFT`, before anything lands. A rejected
    ///         one still lands, so that its performer can be punished.
    function beforeTaskSubmission(
        TaskInfo calldata task,
        bool isApproved,
        bytes calldata,
        BN254.G1Point calldata,
        uint32[] calldata
    ) external view {
        if (msg.sender != caller) revert NotCaller(msg.sender);
        if (task.data.length != 96) revert MalformedPriceData(task.data.length);
        if (!isApproved) return;
        (,, uint64 observedAt) = abi.decode(task.data, (bytes32, uint256, uint64));
        uint256 latestAllowed = block.timestamp + MAX_FUTURE_DRIFT;
        if (observedAt > latestAllowed) revert ObservationFromTheFuture(observedAt, latestAllowed);
    }

    /// @notice Approved observations newer than the stored one replace it; older ones are ignored.
    function afterTaskSubmission(
        TaskInfo calldata task,
        bool isApproved,
        bytes calldata,
        BN254.G1Point calldata,
        uint32[] calldata
    ) external {
        if (msg.sender != caller) revert NotCaller(msg.sender);
        if (!isApproved) return;
        (bytes32 pair, uint256 price, uint64 observedAt) = abi.decode(task.data, (bytes32, uint256, uint64));
        if (observedAt <= _latest[pair].observedAt) return;
        _latest[pair] = Price(price, observedAt, uint64(block.number), task.taskPerformer);
        updates += 1;
        emit PriceUpdated(pair, price, observedAt, task.taskPerformer);
    }

    function latest(bytes32 pair) external view returns (Price memory) {
        return _latest[pair];
    }
}
