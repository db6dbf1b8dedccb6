// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

// The attestation center's types, as its IAvsLogic interface takes them (the same ABI).
struct TaskInfo {
    string proofOfTask;
    bytes data;
    address taskPerformer;
    uint16 taskDefinitionId;
}

struct G1Point {
    uint256 X;
    uint256 Y;
}

/// @title PriceFeedHook: the on-chain side of the price feed (an IAvsLogic hook, opt-in)
/// @notice The attestation center calls it for every task it lands; it keeps the latest approved
///         price per pair. A task's data is abi.encode(bytes32 pair, uint256 price, uint64 at), the
///         price in 1e8 units (avs.py). `othentic devnet` deploys it when othentic.toml has [hook].
contract PriceFeedHook {
    struct Price {
        uint256 price;
        uint64 at;
    }

    address public immutable center;
    mapping(bytes32 => Price) public latest;

    event PriceUpdated(bytes32 indexed pair, uint256 price, uint64 at);

    error NotTheCenter(address sender);
    error NotAPrice(uint256 length);

    constructor(address center_) {
        center = center_;
    }

    /// @notice Refuses, before anything lands, data that is not one (pair, price, time) record.
    function beforeTaskSubmission(TaskInfo calldata task, bool, bytes calldata, G1Point calldata, uint32[] calldata)
        external
        view
    {
        if (msg.sender != center) revert NotTheCenter(msg.sender);
        if (task.data.length != 96) revert NotAPrice(task.data.length);
    }

    /// @notice Stores an approved price newer than the pair's stored one.
    function afterTaskSubmission(
        TaskInfo calldata task,
        bool isApproved,
        bytes calldata,
        G1Point calldata,
        uint32[] calldata
    ) external {
        if (msg.sender != center) revert NotTheCenter(msg.sender);
        if (!isApproved) return;
        (bytes32 pair, uint256 price, uint64 at) = abi.decode(task.data, (bytes32, uint256, uint64));
        if (at <= latest[pair].at) return;
        latest[pair] = Price(price, at);
        emit PriceUpdated(pair, price, at);
    }
}
