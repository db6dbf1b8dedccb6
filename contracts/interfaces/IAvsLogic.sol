// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "../libraries/BN254.sol";
import {TaskInfo} from "../libraries/ProtocolHashes.sol";

/// @title IAvsLogic
/// @notice Hooks an AVS plugs into the attestation center; both run inside `submitTask`.
///         `beforeTaskSubmission` runs before any state change: after the checks that need no
///         operator set (pause, definition, expiry, replay, performer signature, active performer
///         and aggregator) and before the signer-count, fee, quorum and aggregate-signature checks.
///         It may therefore see a submission that then fails; the whole transaction reverts then,
///         the hook's effects included, so what it does stands only for tasks that land. The
///         operator set is read after it: an operator that leaves in the hook is not counted.
///         `afterTaskSubmission` runs last, after the task is recorded and its rewards accrued.
///         A hook that reverts makes the submission revert with the hook's own revert data, so the
///         aggregator sees the AVS's reason.
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
