"""The performer's ECDSA signature over the raw ``taskHash`` digest (no EIP-191 prefix).

Othentic performers sign the 32-byte digest directly; Go tooling adds 27 to ``v``, others leave it
at 0/1. Both are accepted on recovery; we always produce ``v`` in {27, 28}.

A signature whose ``s`` is in the upper half of the curve order is refused, as OpenZeppelin's
``ECDSA.tryRecover`` refuses it on-chain (EIP-2 malleability rule): accepted off-chain, such a
task would collect votes and then fail at ``submitTask``, forever. :func:`check_low_s` is
the one place that rule lives; :func:`recover_task_signer` applies it.
"""

from __future__ import annotations

from eth_account import Account
from eth_keys import keys
from eth_keys.exceptions import BadSignature
from eth_utils import to_checksum_address

SIGNATURE_LENGTH = 65
#: The order of secp256k1's group; ``s`` must be at most half of it (EIP-2).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N = SECP256K1_N // 2


class InvalidTaskSignature(ValueError):
    """A performer signature that is malformed or does not recover to an address."""


def sign_task_hash(private_key: str | bytes, digest: bytes) -> bytes:
    """65 bytes ``r || s || v`` with ``v`` in {27, 28}."""
    if len(digest) != 32:
        raise ValueError(f"task hash must be 32 bytes, got {len(digest)}")
    return bytes(Account.unsafe_sign_hash(digest, private_key).signature)


def check_low_s(signature: bytes) -> None:
    """Refuse a signature ``r || s || v`` whose ``s`` is above ``secp256k1n / 2``, as the
    attestation center does (EIP-2); the one place this rule lives."""
    s = int.from_bytes(signature[32:64], "big")
    if s > SECP256K1_HALF_N:
        raise InvalidTaskSignature(
            "signature has a high s (s > secp256k1n/2), which the attestation center refuses (EIP-2); "
            "sign with a library that produces low-s signatures, or use s' = n - s and flip v"
        )


def recover_task_signer(digest: bytes, signature: bytes) -> str:
    """The checksummed address that signed ``digest``; raises :class:`InvalidTaskSignature`."""
    if len(digest) != 32:
        raise ValueError(f"task hash must be 32 bytes, got {len(digest)}")
    if len(signature) != SIGNATURE_LENGTH:
        raise InvalidTaskSignature(f"signature must be {SIGNATURE_LENGTH} bytes, got {len(signature)}")
    v = signature[64]
    if v >= 27:
        v -= 27
    if v not in (0, 1):
        raise InvalidTaskSignature(f"signature recovery id v must be 0, 1, 27 or 28, got {signature[64]}")
    check_low_s(signature)
    try:
        public_key = keys.Signature(signature[:64] + bytes([v])).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValueError) as exc:
        raise InvalidTaskSignature(f"signature does not recover: {exc}") from exc
    return to_checksum_address(public_key.to_canonical_address())
