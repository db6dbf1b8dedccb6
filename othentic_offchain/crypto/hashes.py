"""The protocol's hashes (docs/crypto.md, "The protocol's messages"), defined once for Python.

Their Solidity twins live in ``contracts/libraries/ProtocolHashes.sol`` (task, performer, vote
and proof-of-possession hashes) and ``contracts/libraries/BN254.sol`` (gamma);
``tests/vectors/bls_vectors.json`` holds them together.
"""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak, to_canonical_address

from othentic_offchain.crypto.bn254 import G1Point, G2Point, R

TASK_TYPES = ["string", "bytes", "address", "uint16"]
VOTE_TYPES = ["string", "bytes", "address", "uint16", "address", "uint256", "bool"]
POP_TYPES = ["bytes32", "address", "address", "uint256", "uint256[2]", "uint256[4]"]
ROUND_TYPES = ["bytes32", "address", "uint256", "uint16", "uint64"]
PERFORMER_TYPES = ["bytes32", "uint256", "address", "bytes32"]

#: Domain tag of proof-of-possession messages, so a registration signature is never a vote.
POP_DOMAIN = keccak(b"othentic-py.bls.proof-of-possession.v1")
#: Domain tag of a performer's round message, so a round signature is never a vote or a registration.
ROUND_DOMAIN = keccak(b"othentic-py.bls.performer-round.v1")
#: Domain tag of the domain-bound performer digest, so that it is never a taskHash nor a vote.
PERFORMER_DOMAIN = keccak(b"othentic-py.ecdsa.performer-task.v1")


def _address(value: str | bytes) -> bytes:
    return to_canonical_address(value)


def _check_task_definition_id(task_definition_id: int) -> int:
    if not 0 <= int(task_definition_id) < 2**16:
        raise ValueError(f"taskDefinitionId must fit in uint16, got {task_definition_id}")
    return int(task_definition_id)


def encode_task(proof_of_task: str, data: bytes, performer: str | bytes, task_definition_id: int) -> bytes:
    """``abi.encode(string proofOfTask, bytes data, address performer, uint16 taskDefinitionId)``."""
    return encode(
        TASK_TYPES,
        [proof_of_task, bytes(data), _address(performer), _check_task_definition_id(task_definition_id)],
    )


def task_hash(proof_of_task: str, data: bytes, performer: str | bytes, task_definition_id: int) -> bytes:
    """Othentic's ``taskHash``: the replay key on-chain, and what Othentic performers ECDSA-sign (raw
    digest, no EIP-191 prefix); ours sign :func:`performer_hash` of it."""
    return keccak(encode_task(proof_of_task, data, performer, task_definition_id))


def performer_hash(task_hash_: bytes, attestation_center: str | bytes, chain_id: int) -> bytes:
    """The domain-bound performer digest: ``keccak256(abi.encode(PERFORMER_DOMAIN, chainId,
    attestationCenter, taskHash))``. Our performers ECDSA-sign it (raw digest, no EIP-191 prefix); a
    signature over it is valid on one attestation center of one chain only."""
    if len(task_hash_) != 32:
        raise ValueError(f"task hash must be 32 bytes, got {len(task_hash_)}")
    return keccak(
        encode(PERFORMER_TYPES, [PERFORMER_DOMAIN, int(chain_id), _address(attestation_center), bytes(task_hash_)])
    )


def encode_vote(
    proof_of_task: str,
    data: bytes,
    performer: str | bytes,
    task_definition_id: int,
    attestation_center: str | bytes,
    chain_id: int,
    is_approved: bool,
) -> bytes:
    """``abi.encode(task fields..., address attestationCenter, uint256 chainId, bool isApproved)``."""
    return encode(
        VOTE_TYPES,
        [
            proof_of_task,
            bytes(data),
            _address(performer),
            _check_task_definition_id(task_definition_id),
            _address(attestation_center),
            int(chain_id),
            bool(is_approved),
        ],
    )


def vote_hash(
    proof_of_task: str,
    data: bytes,
    performer: str | bytes,
    task_definition_id: int,
    attestation_center: str | bytes,
    chain_id: int,
    is_approved: bool,
) -> bytes:
    """The digest attesters BLS-sign: bound to the task, the contract, the chain and the side."""
    return keccak(
        encode_vote(proof_of_task, data, performer, task_definition_id, attestation_center, chain_id, is_approved)
    )


def pop_hash(operator: str | bytes, registry: str | bytes, chain_id: int, pk_g1: G1Point, pk_g2: G2Point) -> bytes:
    """Proof-of-possession digest: binds the key pair to one operator, one registry, one chain."""
    return keccak(
        encode(
            POP_TYPES,
            [
                POP_DOMAIN,
                _address(operator),
                _address(registry),
                int(chain_id),
                list(pk_g1.words()),
                list(pk_g2.words()),
            ],
        )
    )


def round_hash(attestation_center: str | bytes, chain_id: int, task_definition_id: int, block: int) -> bytes:
    """The digest a performer BLS-signs for the block it was elected for (its round).

    ``keccak256(abi.encode(ROUND_DOMAIN, address attestationCenter, uint256 chainId, uint16
    taskDefinitionId, uint64 block))``. A BLS signature is unique per key and message, so the
    signature over it is one value per operator and round that nobody can choose, not even the
    operator, and anyone can check it against the operator's registered G2 key (the randomness
    beacon example uses it as its contribution).
    """
    return keccak(
        encode(
            ROUND_TYPES,
            [
                ROUND_DOMAIN,
                _address(attestation_center),
                int(chain_id),
                _check_task_definition_id(task_definition_id),
                int(block),
            ],
        )
    )


def gamma(message_point: G1Point, apk_g1: G1Point, apk_g2: G2Point, signature: G1Point) -> int:
    """The random linear-combination scalar that binds a G1 aggregate key to a G2 aggregate key.

    ``keccak256(abi.encodePacked(H(m).x, H(m).y, apkG1.x, apkG1.y, apkG2 (precompile order), sigma.x, sigma.y)) mod r``
    """
    words = (*message_point.words(), *apk_g1.words(), *apk_g2.words(), *signature.words())
    return int.from_bytes(keccak(b"".join(w.to_bytes(32, "big") for w in words)), "big") % R
