// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "./libraries/BN254.sol";
import {ProtocolHashes, TaskInfo} from "./libraries/ProtocolHashes.sol";

/// @title BLSVerifier
/// @notice A stateless view contract exposing the protocol's BLS checks and digests, so that
///         off-chain code can verify a signature with one `eth_call` instead of Python pairings,
///         and tests can hold Python and Solidity to the same vectors.
contract BLSVerifier {
    /// @notice Try-and-increment hash of a digest to G1.
    function hashToG1(bytes32 digest) external view returns (BN254.G1Point memory) {
        return BN254.hashToG1(digest);
    }

    /// @notice Whether `sigma` signs `digest` under the key (or aggregate key) given in G1 and G2.
    function verifyAggregate(
        bytes32 digest,
        BN254.G1Point calldata apkG1,
        BN254.G2Point calldata apkG2,
        BN254.G1Point calldata sigma
    ) external view returns (bool) {
        return BN254.verifyBound(digest, apkG1, apkG2, sigma);
    }

    /// @notice Whether `proof` proves possession of the key pair for `operator` at `registry` on this chain.
    function verifyPossession(
        address operator,
        address registry,
        BN254.G1Point calldata pkG1,
        BN254.G2Point calldata pkG2,
        BN254.G1Point calldata proof
    ) external view returns (bool) {
        bytes32 digest = ProtocolHashes.popHash(operator, registry, block.chainid, pkG1, pkG2);
        return BN254.verifyBound(digest, pkG1, pkG2, proof);
    }

    function taskHash(TaskInfo calldata task) external pure returns (bytes32) {
        return ProtocolHashes.taskHash(task);
    }

    function voteHash(TaskInfo calldata task, address attestationCenter, uint256 chainId, bool isApproved)
        external
        pure
        returns (bytes32)
    {
        return ProtocolHashes.voteHash(task, attestationCenter, chainId, isApproved);
    }

    function performerHash(bytes32 taskHash_, address attestationCenter, uint256 chainId)
        external
        pure
        returns (bytes32)
    {
        return ProtocolHashes.performerHash(taskHash_, attestationCenter, chainId);
    }

    function popHash(
        address operator,
        address registry,
        uint256 chainId,
        BN254.G1Point calldata pkG1,
        BN254.G2Point calldata pkG2
    ) external pure returns (bytes32) {
        return ProtocolHashes.popHash(operator, registry, chainId, pkG1, pkG2);
    }
}
