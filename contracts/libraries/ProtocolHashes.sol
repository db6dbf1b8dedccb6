// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "./BN254.sol";

/// @notice A task as the performer signed it; Othentic's `TaskInfo`, field for field.
struct TaskInfo {
    string proofOfTask;
    bytes data;
    address taskPerformer;
    uint16 taskDefinitionId;
}

/// @title ProtocolHashes
/// @notice The protocol's digests (docs/crypto.md), defined once for Solidity. Their Python twins are in
///         `othentic_offchain/crypto/hashes.py`; the shared test vectors hold the two together.
library ProtocolHashes {
    /// @notice Domain tag of proof-of-possession digests: a registration signature is never a vote.
    bytes32 internal constant POP_DOMAIN = keccak256("othentic-py.bls.proof-of-possession.v1");
    /// @notice Domain tag of the domain-bound performer digest: it is never a taskHash nor a vote.
    bytes32 internal constant PERFORMER_DOMAIN = keccak256("othentic-py.ecdsa.performer-task.v1");

    /// @notice Othentic's taskHash: keccak256(abi.encode(proofOfTask, data, performer, taskDefinitionId)).
    ///         Othentic performers sign it with ECDSA, raw (no EIP-191 prefix); ours sign `performerHash`.
    function taskHash(TaskInfo calldata task) internal pure returns (bytes32) {
        return keccak256(abi.encode(task.proofOfTask, task.data, task.taskPerformer, task.taskDefinitionId));
    }

    /// @notice The domain-bound performer digest: the taskHash tied to one attestation center on one
    ///         chain. Our performers sign it with ECDSA, raw like the taskHash (no EIP-191 prefix); a
    ///         signature over it verifies nowhere else (docs/decisions/0007-performer-signature-domain.md).
    function performerHash(bytes32 taskHash_, address attestationCenter, uint256 chainId)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(PERFORMER_DOMAIN, chainId, attestationCenter, taskHash_));
    }

    /// @notice The digest attesters BLS-sign, bound to this contract, this chain and the side.
    function voteHash(TaskInfo calldata task, address attestationCenter, uint256 chainId, bool isApproved)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                task.proofOfTask, task.data, task.taskPerformer, task.taskDefinitionId,
                attestationCenter, chainId, isApproved
            )
        );
    }

    /// @notice Proof-of-possession digest binding a key pair to an operator, a registry and a chain.
    function popHash(
        address operator,
        address registry,
        uint256 chainId,
        BN254.G1Point memory pkG1,
        BN254.G2Point memory pkG2
    ) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                POP_DOMAIN, operator, registry, chainId,
                [pkG1.X, pkG1.Y], [pkG2.X[0], pkG2.X[1], pkG2.Y[0], pkG2.Y[1]]
            )
        );
    }
}
