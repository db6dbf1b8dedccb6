"""The performer's ECDSA signature, over a raw 32-byte digest (no EIP-191 prefix).

Two digests are accepted, as by the attestation center (docs/decisions/0007-performer-signature-domain.md):
the domain-bound :func:`~othentic_offchain.crypto.hashes.performer_hash` (what our performers sign:
valid on one center of one chain) and the bare ``taskHash`` (what Othentic performers sign).
:func:`check_performer_signature` tries them in that order and says which one it was.

Go tooling adds 27 to ``v``, others leave it at 0/1. Both are accepted on recovery; we always
produce ``v`` in {27, 28}.

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

from othentic_offchain.crypto.hashes import performer_hash

SIGNATURE_LENGTH = 65
#: The order of secp256k1's group; ``s`` must be at most half of it (EIP-2).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N = SECP256K1_N // 2


class InvalidTaskSignature(ValueError):
    """A performer signature that is malformed or does not recover to an address."""


class WrongTaskSigner(InvalidTaskSignature):
    """A well-formed signature that is not the performer's over either digest. ``recovered`` is the
    address it recovers to over the domain-bound digest, the one the attestation center names."""

    def __init__(self, message: str, performer: str, recovered: str, recovered_bare: str):
        super().__init__(message)
        self.performer = performer
        self.recovered = recovered
        self.recovered_bare = recovered_bare


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


def check_performer_signature(
    task_hash: bytes, signature: bytes, performer: str, attestation_center: str | bytes, chain_id: int
) -> bool:
    """Whether ``signature`` is ``performer``'s over the domain-bound digest of ``task_hash`` for this
    center and chain (True) or over the bare ``task_hash`` (False), tried in that order as
    ``submitTask`` does. Raises :class:`InvalidTaskSignature` for a malformed signature and
    :class:`WrongTaskSigner` when it is the performer's over neither (a bound signature made for
    another center or chain among them)."""
    expected = to_checksum_address(performer)
    recovered = recover_task_signer(performer_hash(task_hash, attestation_center, chain_id), signature)
    if recovered == expected:
        return True
    recovered_bare = recover_task_signer(task_hash, signature)
    if recovered_bare == expected:
        return False
    raise WrongTaskSigner(
        f"signature recovers to {recovered} over the domain-bound digest (this center {to_checksum_address(attestation_center)}, "
        f"chain {chain_id}) and to {recovered_bare} over the bare taskHash 0x{task_hash.hex()}, not to the "
        f"performer {expected}; sign the domain-bound digest (or the raw taskHash), without the EIP-191 prefix",
        expected,
        recovered,
        recovered_bare,
    )
