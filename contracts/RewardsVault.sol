// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IRewardsVault} from "./interfaces/IRewardsVault.sol";

/// @title RewardsVault
/// @notice Holds the reward token apart from staked tokens (see `docs/contracts/RewardsVault.md`).
///         Anyone may fund it; the attestation center, which keeps the per-operator accounts, is the
///         only one that pays out, and only what an operator claims.
contract RewardsVault is IRewardsVault, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    IERC20 internal immutable _token;
    /// @notice May set the attestation center, once (the center is deployed after the vault).
    address public immutable deployer;
    address public attestationCenter;

    constructor(IERC20 token) {
        if (address(token) == address(0)) revert ZeroAddress();
        _token = token;
        deployer = msg.sender;
    }

    function setAttestationCenter(address center) external {
        if (msg.sender != deployer) revert NotDeployer(msg.sender);
        if (attestationCenter != address(0)) revert AttestationCenterAlreadySet(attestationCenter);
        if (center == address(0)) revert ZeroAddress();
        attestationCenter = center;
        emit AttestationCenterSet(center);
    }

    /// @inheritdoc IRewardsVault
    function fund(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        _token.safeTransferFrom(msg.sender, address(this), amount);
        emit Funded(msg.sender, amount, _token.balanceOf(address(this)));
    }

    /// @inheritdoc IRewardsVault
    function payOut(address to, uint256 amount) external nonReentrant {
        if (msg.sender != attestationCenter) revert NotAttestationCenter(msg.sender);
        if (to == address(0)) revert ZeroAddress();
        uint256 available = _token.balanceOf(address(this));
        if (amount > available) revert InsufficientRewardsBalance(amount, available);
        _token.safeTransfer(to, amount);
        emit PaidOut(to, amount, available - amount);
    }

    function rewardToken() external view returns (IERC20) {
        return _token;
    }

    function balance() external view returns (uint256) {
        return _token.balanceOf(address(this));
    }
}
