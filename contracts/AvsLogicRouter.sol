// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {IAvsLogic} from "./interfaces/IAvsLogic.sol";
import {BN254} from "./libraries/BN254.sol";
import {TaskInfo} from "./libraries/ProtocolHashes.sol";

/// @title AvsLogicRouter
/// @notice Lets one attestation center call different hooks per task definition: set it as the
///         center's AVS logic and map definition ids to hook contracts. Definitions without a hook
///         pass through. Only the center may call it, so what a hook behind it does stands only for
///         tasks that land (see `IAvsLogic` for when each hook runs).
contract AvsLogicRouter is IAvsLogic, Ownable {
    address public immutable attestationCenter;
    mapping(uint16 => IAvsLogic) public logicOf;

    event LogicSet(uint16 indexed taskDefinitionId, address logic);

    error NotAttestationCenter(address caller);

    constructor(address center, address owner_) Ownable(owner_) {
        attestationCenter = center;
    }

    function setLogic(uint16 taskDefinitionId, IAvsLogic logic) external onlyOwner {
        logicOf[taskDefinitionId] = logic;
        emit LogicSet(taskDefinitionId, address(logic));
    }

    function beforeTaskSubmission(
        TaskInfo calldata task,
        bool isApproved,
        bytes calldata tpSignature,
        BN254.G1Point calldata taSignature,
        uint32[] calldata nonSignerIds
    ) external {
        IAvsLogic logic = _route(task.taskDefinitionId);
        if (address(logic) != address(0)) {
            logic.beforeTaskSubmission(task, isApproved, tpSignature, taSignature, nonSignerIds);
        }
    }

    function afterTaskSubmission(
        TaskInfo calldata task,
        bool isApproved,
        bytes calldata tpSignature,
        BN254.G1Point calldata taSignature,
        uint32[] calldata nonSignerIds
    ) external {
        IAvsLogic logic = _route(task.taskDefinitionId);
        if (address(logic) != address(0)) {
            logic.afterTaskSubmission(task, isApproved, tpSignature, taSignature, nonSignerIds);
        }
    }

    function _route(uint16 taskDefinitionId) internal view returns (IAvsLogic) {
        if (msg.sender != attestationCenter) revert NotAttestationCenter(msg.sender);
        return logicOf[taskDefinitionId];
    }
}
