// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {IFeeCalculator} from "../interfaces/IFeeCalculator.sol";
import {TaskInfo} from "../libraries/ProtocolHashes.sol";

/// @notice Test-only fee calculator: fixed amounts per role, scaled by nothing.
contract TestFeeCalculator is IFeeCalculator {
    uint256 public attesterFee;
    uint256 public performerFee;
    uint256 public aggregatorFee;

    function setFees(uint256 attester, uint256 performer, uint256 aggregator) external {
        attesterFee = attester;
        performerFee = performer;
        aggregatorFee = aggregator;
    }

    function calculateFees(TaskInfo calldata, bool, uint256) external view returns (uint256, uint256, uint256) {
        return (attesterFee, performerFee, aggregatorFee);
    }
}
