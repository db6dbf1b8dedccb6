// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {TaskInfo} from "../libraries/ProtocolHashes.sol";

/// @title IFeeCalculator
/// @notice Optional: replaces a task definition's fixed rewards with amounts computed per task.
/// @dev    Called by `submitTask` only when a calculator is set. Amounts must fit the definition
///         reward ranges (uint96 per attester, uint128 for performer and aggregator) or the
///         submission reverts with `RewardTooLarge`.
interface IFeeCalculator {
    /// @param signerCount The number of operators whose signature the aggregate carries.
    function calculateFees(TaskInfo calldata task, bool isApproved, uint256 signerCount)
        external
        view
        returns (uint256 attesterReward, uint256 performerReward, uint256 aggregatorReward);
}
