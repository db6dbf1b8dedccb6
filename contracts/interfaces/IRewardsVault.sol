// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title IRewardsVault
/// @notice Holds the reward token. Anyone funds it; only the attestation center pays out of it, when
///         an operator claims what it has accrued.
interface IRewardsVault {
    event Funded(address indexed from, uint256 amount, uint256 balance);
    event PaidOut(address indexed to, uint256 amount, uint256 balance);
    event AttestationCenterSet(address indexed attestationCenter);

    /// @notice The vault holds less than a claim asks for. Nothing was paid and nothing was lost:
    ///         the claim can be made again once the vault is funded.
    error InsufficientRewardsBalance(uint256 requested, uint256 available);
    error NotAttestationCenter(address caller);
    error NotDeployer(address caller);
    error AttestationCenterAlreadySet(address attestationCenter);
    error ZeroAmount();
    error ZeroAddress();

    function rewardToken() external view returns (IERC20);
    function attestationCenter() external view returns (address);
    function balance() external view returns (uint256);
    function fund(uint256 amount) external;
    function payOut(address to, uint256 amount) external;
}
