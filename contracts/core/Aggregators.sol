// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {AggregatorSchedule} from "../libraries/AggregatorSchedule.sol";
import {OperatorSets} from "./OperatorSets.sol";

/// @title Aggregators
/// @notice Operators who opt in to land tasks, and the schedule of whose turn it is (see
///         `docs/contracts/Aggregators.md` and docs/decisions/0015-aggregator-schedule.md).
/// @dev    Served by the TaskDefinitions module (the OperatorRegistry module is at the EIP-170 code
///         size limit), on the center's storage like every module function. Leaving and ejection
///         (in the OperatorRegistry) take an operator off the list through `_removeAggregator`.
abstract contract Aggregators is OperatorSets {
    /// @dev The most aggregators an AVS may admit at once (bounds the list views), and the longest
    ///      endpoint. Internal: the center routes these functions by selector, and only its own.
    uint16 internal constant MAX_AGGREGATORS = 64;
    uint256 internal constant MAX_AGGREGATOR_ENDPOINT_LENGTH = 256;

    /// @notice Adds the caller (an active operator) to the end of the aggregator list, with the URL
    ///         where its aggregator node takes tasks. From the first opt-in on, the aggregator reward
    ///         of a task goes only to the aggregator on turn (`aggregatorTurn`) when it lands.
    function optInAsAggregator(string calldata endpoint) external onlyDelegated {
        _requireFlow(FLOW_REGISTRATIONS);
        Account storage account = _accounts[msg.sender];
        if (!account.active) revert NotRegistered(msg.sender);
        uint32 id = account.operatorId;
        if (account.aggregatorPosition != 0) revert AlreadyAggregator(id);
        _checkAggregatorEndpoint(endpoint);
        AggregatorConfig memory config = _aggregatorConfig;
        if (config.count >= config.maxAggregators) revert AggregatorLimitReached(config.maxAggregators);
        uint16 position = config.count;
        _aggregatorAt[position] = id;
        account.aggregatorPosition = position + 1;
        _aggregatorConfig.count = position + 1;
        if (position == 0) _sets[0].flags |= HAS_AGGREGATORS;
        _aggregatorEndpoint[id] = endpoint;
        emit AggregatorOptedIn(id, msg.sender, position, endpoint);
    }

    /// @notice Replaces the caller's aggregator endpoint.
    function setAggregatorEndpoint(string calldata endpoint) external onlyDelegated {
        Account memory account = _accounts[msg.sender];
        if (account.aggregatorPosition == 0) revert NotAggregator(msg.sender);
        _checkAggregatorEndpoint(endpoint);
        _aggregatorEndpoint[account.operatorId] = endpoint;
        emit AggregatorEndpointUpdated(account.operatorId, endpoint);
    }

    /// @notice Takes the caller off the aggregator list (it stays an operator). The last aggregator
    ///         of the list takes its place: the schedule of tasks in flight changes from this block.
    function optOutAsAggregator() external onlyDelegated {
        Account memory account = _accounts[msg.sender];
        if (account.aggregatorPosition == 0) revert NotAggregator(msg.sender);
        _removeAggregator(msg.sender, account.operatorId, account.aggregatorPosition);
    }

    /// @notice How many aggregators may opt in, and their turns (admin). A limit below the number
    ///         already opted in removes nobody: it applies to those who come next.
    function setAggregatorConfig(uint16 maxAggregators, uint32 turnSeconds, uint32 graceSeconds)
        external
        onlyDelegated
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (maxAggregators > MAX_AGGREGATORS || turnSeconds == 0 || graceSeconds >= turnSeconds) {
            revert InvalidAggregatorConfig(maxAggregators, turnSeconds, graceSeconds);
        }
        AggregatorConfig storage config = _aggregatorConfig;
        config.maxAggregators = maxAggregators;
        config.turnSeconds = turnSeconds;
        config.graceSeconds = graceSeconds;
        emit AggregatorConfigUpdated(maxAggregators, turnSeconds, graceSeconds);
    }

    function aggregatorConfig() external view returns (AggregatorConfig memory) {
        return _aggregatorConfig;
    }

    function activeAggregators() external view returns (AggregatorView[] memory aggregators) {
        uint256 count = _aggregatorConfig.count;
        aggregators = new AggregatorView[](count);
        for (uint256 i; i < count; ++i) {
            uint32 id = _aggregatorAt[i];
            aggregators[i] = AggregatorView(id, _opInfo[id].account, _aggregatorEndpoint[id]);
        }
    }

    function aggregatorTurn(bytes32 taskHash, uint256 timestamp) external view returns (uint32 onTurn, uint32 inGrace) {
        AggregatorConfig memory config = _aggregatorConfig;
        if (config.count == 0) return (0, 0);
        onTurn = _aggregatorAt[AggregatorSchedule.position(taskHash, timestamp, config.count, config.turnSeconds)];
        if (config.graceSeconds != 0 && timestamp >= config.graceSeconds) {
            uint32 before = _aggregatorAt[AggregatorSchedule.position(
                taskHash, timestamp - config.graceSeconds, config.count, config.turnSeconds
            )];
            if (before != onTurn) inGrace = before;
        }
    }

    function _checkAggregatorEndpoint(string calldata endpoint) internal pure {
        uint256 length = bytes(endpoint).length;
        if (length == 0) revert EmptyEndpoint();
        if (length > MAX_AGGREGATOR_ENDPOINT_LENGTH) revert EndpointTooLong(length, MAX_AGGREGATOR_ENDPOINT_LENGTH);
    }
}
