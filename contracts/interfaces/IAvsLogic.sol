// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "../libraries/BN254.sol";
import {TaskInfo} from "../libraries/ProtocolHashes.sol";

/// @title IAvsLogic
/// @notice Hooks an AVS plugs into the attestation center. Both run inside `submitTask`, after every
///         check of the submission has passed; a hook that reverts makes the submission revert with
///         the hook's own revert data, so the aggregator sees the AVS's reason.
/// @dev    Othentic's hooks take the signers' ids; ours take the non-signers' ids, because that is
///         what a submission carries (the signers are the definition's operator set minus them).
interface IAvsLogic {
    function beforeTaskSubmission(
        TaskInfo calldata task,
        bool isApproved,
        bytes calldata tpSignature,
        BN254.G1Point calldata taSignature,
        uint32[] calldata nonSignerIds
    ) external;

    function afterTaskSubmission(
        TaskInfo calldata task,
        bool isApproved,
        bytes calldata tpSignature,
        BN254.G1Point calldata taSignature,
        uint32[] calldata nonSignerIds
    ) external;
}
