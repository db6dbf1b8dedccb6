"""BLS signatures on BN254: signatures in G1, public keys in G2 (and their G1 twins).

A signer with secret ``sk`` publishes ``pk_g2 = sk * G2`` and ``pk_g1 = sk * G1``. A signature on a
32-byte digest ``m`` is ``sk * H(m)`` with ``H`` = :func:`~.bn254.hash_to_g1`. Aggregation is point
addition. The G1 key lets the contracts keep a running aggregate key with cheap G1 additions;
the verification equation (see :mod:`.verify`) checks that the G2 key a caller supplies matches it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from eth_utils import keccak

from othentic_offchain.crypto.bn254 import G1_GENERATOR, G2_GENERATOR, G1Point, G2Point, R, hash_to_g1
from othentic_offchain.crypto.hashes import pop_hash

_KEYGEN_DOMAIN = b"othentic-py.bls.keygen.v1"


class SecretKey:
    """A BLS secret scalar. Its repr and str never show the value."""

    __slots__ = ("_scalar",)

    def __init__(self, scalar: int):
        if not 0 < scalar < R:
            raise ValueError("BLS secret key must be in [1, r-1]")
        self._scalar = scalar

    @classmethod
    def random(cls) -> SecretKey:
        return cls(secrets.randbelow(R - 1) + 1)

    @classmethod
    def from_seed(cls, seed: bytes) -> SecretKey:
        """Deterministic key from a seed: 48 bytes of domain-separated keccak output, reduced mod r.

        48 bytes (384 bits) make the modular bias negligible; a zero result (probability ~2^-254)
        moves to the next counter value.
        """
        if len(seed) < 16:
            raise ValueError("seed must be at least 16 bytes")
        counter = 0
        while True:
            block = keccak(_KEYGEN_DOMAIN + counter.to_bytes(4, "big") + b"\x00" + seed)
            block += keccak(_KEYGEN_DOMAIN + counter.to_bytes(4, "big") + b"\x01" + seed)
            scalar = int.from_bytes(block[:48], "big") % R
            if scalar:
                return cls(scalar)
            counter += 1

    @property
    def scalar(self) -> int:
        """The raw scalar: only for key files and test vectors."""
        return self._scalar

    def __repr__(self) -> str:
        return "SecretKey(<hidden>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretKey) and secrets.compare_digest(
            self._scalar.to_bytes(32, "big"), other._scalar.to_bytes(32, "big")
        )

    def __hash__(self) -> int:  # keys in sets would leak nothing, but there is no use for it
        raise TypeError("SecretKey is not hashable")

    def __reduce__(self):
        raise TypeError("SecretKey refuses to be pickled; use an encrypted key file")


@dataclass(frozen=True, slots=True)
class PublicKey:
    g1: G1Point
    g2: G2Point

    def __add__(self, other: PublicKey) -> PublicKey:
        return PublicKey(self.g1 + other.g1, self.g2 + other.g2)


@dataclass(frozen=True, slots=True, repr=False)
class KeyPair:
    secret: SecretKey
    public: PublicKey

    @classmethod
    def from_secret(cls, secret: SecretKey) -> KeyPair:
        return cls(secret, PublicKey(G1_GENERATOR * secret.scalar, G2_GENERATOR * secret.scalar))

    @classmethod
    def generate(cls) -> KeyPair:
        return cls.from_secret(SecretKey.random())

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        return cls.from_secret(SecretKey.from_seed(seed))

    def sign(self, digest: bytes) -> G1Point:
        return sign(self.secret, digest)

    def proof_of_possession(self, operator: str, registry: str, chain_id: int) -> G1Point:
        return prove_possession(self, operator, registry, chain_id)

    def __repr__(self) -> str:
        return f"KeyPair(public={self.public!r}, secret=<hidden>)"


def sign(secret: SecretKey, digest: bytes) -> G1Point:
    """``sk * H(digest)``."""
    return hash_to_g1(digest) * secret.scalar


def aggregate_signatures(signatures: Iterable[G1Point]) -> G1Point:
    return G1Point.sum(signatures)


def aggregate_g1(keys: Iterable[G1Point]) -> G1Point:
    return aggregate_signatures(keys)


def aggregate_g2(keys: Iterable[G2Point]) -> G2Point:
    total = G2Point.infinity()
    for key in keys:
        total = total + key
    return total


def aggregate_public_keys(keys: Iterable[PublicKey]) -> PublicKey:
    keys = list(keys)
    return PublicKey(aggregate_g1(k.g1 for k in keys), aggregate_g2(k.g2 for k in keys))


def prove_possession(keys: KeyPair, operator: str, registry: str, chain_id: int) -> G1Point:
    """Sign the domain-tagged registration digest (see :func:`~.hashes.pop_hash`)."""
    return sign(keys.secret, pop_hash(operator, registry, chain_id, keys.public.g1, keys.public.g2))
