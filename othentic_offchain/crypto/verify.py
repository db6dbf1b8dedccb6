"""BLS verification: the equations once, and two ways to evaluate the pairing product.

Equations (each is "a product of pairings equals 1"):

* single key: ``e(sigma, -G2) * e(H(m), pk_g2) == 1``;
* aggregate bound to G1 (what the contracts check; docs/crypto.md, "Verification equations"):
  ``e(sigma + gamma*apk_g1, -G2) * e(H(m) + gamma*G1, apk_g2) == 1`` with ``gamma`` from
  :func:`~.hashes.gamma`; it also proves that ``apk_g2`` and ``apk_g1`` hold the same secret sum.

Backends:

* :class:`PrecompileBackend`: one ``eth_call`` to the pairing precompile (0x08) of any EVM node;
  about 6 ms on anvil. Use it wherever a chain is at hand (every node has one).
* :class:`PyEccBackend`: pure Python, about 300 ms per two-pair check on this machine, and 400 ms
  on eth-tester (py-evm runs the same code). A fallback for offline tools, never a hot path.
"""

from __future__ import annotations

from typing import Protocol

from othentic_offchain.crypto.bls import PublicKey
from othentic_offchain.crypto.bn254 import (
    G1_GENERATOR,
    NEG_G2_GENERATOR,
    G1Point,
    G2Point,
    InvalidPoint,
    hash_to_g1,
    pairing_input,
    pairing_product_is_one,
)
from othentic_offchain.crypto.hashes import gamma, pop_hash

PAIRING_PRECOMPILE = "0x0000000000000000000000000000000000000008"

Pairs = list[tuple[G1Point, G2Point]]


class PairingBackend(Protocol):
    def check(self, pairs: Pairs) -> bool:
        """True when the product of the pairings is 1; False for invalid points or a mismatch."""


class PyEccBackend:
    """Pairings in pure Python (py_ecc): slow, needs nothing but this process."""

    def check(self, pairs: Pairs) -> bool:
        try:
            return pairing_product_is_one(pairs)
        except InvalidPoint:
            return False


class PrecompileBackend:
    """Pairings through ``eth_call`` to the pairing precompile of a web3 connection."""

    def __init__(self, w3, precompile: str = PAIRING_PRECOMPILE):
        self._w3 = w3
        self._to = w3.to_checksum_address(precompile)

    def check(self, pairs: Pairs) -> bool:
        try:
            result = self._w3.eth.call({"to": self._to, "data": "0x" + pairing_input(pairs).hex()})
        except Exception as exc:  # the precompile fails the call on points off the curve or subgroup
            if _is_execution_failure(exc):
                return False
            raise
        return len(result) == 32 and int.from_bytes(result, "big") == 1


_EXECUTION_FAILURE_MARKERS = ("precompile", "revert", "execution", "invalid input", "out of gas")


def _is_execution_failure(exc: Exception) -> bool:
    """True when the node ran the call and the precompile refused the input; False for transport
    and other RPC failures (timeouts, rate limits), which must not pass for "invalid signature"."""
    from web3.exceptions import ContractLogicError, Web3RPCError

    if isinstance(exc, ContractLogicError):
        return True
    if isinstance(exc, Web3RPCError):
        return any(marker in str(exc).lower() for marker in _EXECUTION_FAILURE_MARKERS)
    return False


_DEFAULT_BACKEND = PyEccBackend()


def _nonzero(point, what: str) -> None:
    if point.is_infinity:
        raise InvalidPoint(f"{what} is the point at infinity")


def single_key_pairs(digest: bytes, pk_g2: G2Point, signature: G1Point) -> Pairs:
    return [(signature, NEG_G2_GENERATOR), (hash_to_g1(digest), pk_g2)]


def bound_aggregate_pairs(digest: bytes, apk_g1: G1Point, apk_g2: G2Point, signature: G1Point) -> Pairs:
    message = hash_to_g1(digest)
    g = gamma(message, apk_g1, apk_g2, signature)
    return [(signature + apk_g1 * g, NEG_G2_GENERATOR), (message + G1_GENERATOR * g, apk_g2)]


def verify(pk_g2: G2Point, digest: bytes, signature: G1Point, backend: PairingBackend | None = None) -> bool:
    """Check one signature (or an aggregate) against a G2 key (or the aggregate of G2 keys)."""
    try:
        signature.validate()
        _nonzero(signature, "signature")
        _nonzero(pk_g2, "public key")
    except InvalidPoint:
        return False
    return (backend or _DEFAULT_BACKEND).check(single_key_pairs(digest, pk_g2, signature))


def verify_aggregate(
    apk_g1: G1Point,
    apk_g2: G2Point,
    digest: bytes,
    signature: G1Point,
    backend: PairingBackend | None = None,
) -> bool:
    """The contracts' check: the signature verifies and ``apk_g2`` matches ``apk_g1``."""
    try:
        for point, what in ((signature, "signature"), (apk_g1, "G1 aggregate key")):
            point.validate()
            _nonzero(point, what)
        _nonzero(apk_g2, "G2 aggregate key")
    except InvalidPoint:
        return False
    return (backend or _DEFAULT_BACKEND).check(bound_aggregate_pairs(digest, apk_g1, apk_g2, signature))


def verify_possession(
    public: PublicKey,
    operator: str,
    registry: str,
    chain_id: int,
    proof: G1Point,
    backend: PairingBackend | None = None,
) -> bool:
    """A proof of possession is a bound signature over :func:`~.hashes.pop_hash`."""
    digest = pop_hash(operator, registry, chain_id, public.g1, public.g2)
    return verify_aggregate(public.g1, public.g2, digest, proof, backend)
