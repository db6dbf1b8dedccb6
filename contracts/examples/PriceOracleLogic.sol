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
contract PriceOracleLogic is IAvsLogic {
    struct Price {
        uint256 price;
        uint64 observedAt;
        uint64 updatedAtBlock;
        address performer;
    }

    address public immutable caller;
    mapping(bytes32 => Price) internal _latest;
    uint256 public updates;

    event PriceUpdated(bytes32 indexed pair, uint256 price, uint64 observedAt, address performer);

    error NotCaller(address sender);
    error MalformedPriceData(uint256 length);

    constructor(address caller_) {
        caller = caller_;
    }

    /// @notice Refuses data that is not one (pair, price, time) record, before anything lands.
    function beforeTaskSubmission(TaskInfo calldata task, bool, bytes calldata, BN254.G1Point calldata, uint32[] calldata)
        external
        view
    {
        if (msg.sender != caller) revert NotCaller(msg.sender);
        if (task.data.length != 96) revert MalformedPriceData(task.data.length);
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
