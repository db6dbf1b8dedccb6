"""Shared fixtures: the BLS test vectors, a pool of key pairs, the contracts under test.

``ape test`` runs on anvil (``ethereum: local: default_provider: foundry``); Ape's pytest plugin
supplies ``chain``, ``project`` and ``accounts``. Fixtures that leave the chain alone are declared
with ``ape.fixture(chain_isolation=False)``, so that Ape does not revert and rebuild fixtures when
one is first used in the middle of a module.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import ape
import pytest
from ape.exceptions import CustomError
from eth_abi import encode
from eth_utils import keccak

from othentic_offchain.crypto import G1Point, G2Point, KeyPair, PrecompileBackend

VECTORS_PATH = Path(__file__).parent / "vectors" / "bls_vectors.json"


def _free_port_for_ape_anvil() -> None:
    """ape-foundry's ``host: auto`` draws a random port without checking it is free, and that path
    does not retry: a taken port leaves the whole session waiting 20 s for an anvil that could not
    bind, then failing (or, if another anvil holds it, talking to the wrong chain). Let the OS pick
    a port that is free now instead."""
    import ape_foundry.provider as foundry

    from othentic_offchain.devnet.anvil import free_port

    class _FreePorts:
        @staticmethod
        def randint(_low: int, _high: int) -> int:
            return free_port()

    foundry.random = _FreePorts()


_free_port_for_ape_anvil()


class Vectors(dict):
    """``bls_vectors.json`` as a dict, plus decoders for its hex encodings."""

    @staticmethod
    def to_int(word: str) -> int:
        return int(word, 16)

    @staticmethod
    def to_bytes(value: str) -> bytes:
        return bytes.fromhex(value.removeprefix("0x"))

    @staticmethod
    def g1(words: list[str]) -> G1Point:
        return G1Point(*(int(w, 16) for w in words))

    @staticmethod
    def g2(words: list[str]) -> G2Point:
        return G2Point.from_words([int(w, 16) for w in words])


@ape.fixture(scope="session", chain_isolation=False)
def vectors() -> Vectors:
    return Vectors(json.loads(VECTORS_PATH.read_text()))


@ape.fixture(scope="session", chain_isolation=False)
def keypairs() -> list[KeyPair]:
    """Eight fixed key pairs (a G2 multiplication each, ~30 ms): Hypothesis picks subsets of them."""
    return [KeyPair.from_seed(b"othentic-py test pool key %02d" % i) for i in range(8)]


@ape.fixture(scope="session", chain_isolation=False)
def precompile_backend(chain) -> PrecompileBackend:
    """Pairings through anvil's 0x08 precompile: ~6 ms a check instead of ~0.4 s with py_ecc."""
    return PrecompileBackend(chain.provider.web3)


@pytest.fixture(scope="session")
def harness(project, accounts):
    return project.BN254Harness.deploy(sender=accounts[0])


@pytest.fixture(scope="session")
def verifier(project, accounts):
    return project.BLSVerifier.deploy(sender=accounts[0])


@ape.fixture(scope="session", chain_isolation=False)
def reverts_with():
    """``with reverts_with(contract.SomeError, *args): ...``: the revert must be that custom error.

    Do not rely on ``ape.reverts(contract.SomeError)`` alone here: ape-foundry hands Ape anvil's
    undecoded message ``custom error 0x<selector>: <hex args>``, Ape then raises a plain
    ContractLogicError and skips its error-type check, so any revert passes. This checks the
    selector and the ABI-encoded arguments (or the decoded error, should Ape decode it).

    Accepted forms, all compared on the selector and the ABI-encoded arguments: an error Ape decoded
    (also one it built from another contract's ABI, such as a library's), anvil's text
    ``custom error 0x<selector>: <args as hex or raw bytes>``, the raw revert data of a reverted
    view call, and the ``0x<selector><args>`` text Ape gives for errors raised in nested calls and
    constructors. ``skip_trace=True`` spares a reverted eth_call its trace; transactions still print one.
    """

    @contextmanager
    def check(error: type[CustomError], *args):
        with ape.reverts() as info:
            yield info
        raised = info.value
        selector = keccak(text=error.abi.selector)[:4]
        encoded = encode([i.canonical_type for i in error.abi.inputs], list(args)) if args else b""
        if isinstance(raised, CustomError):
            # Ape builds the class from the ABI of the contract it called: a library's error (BN254)
            # comes back as another class of the same name, so compare name and arguments.
            assert raised.abi.selector == error.abi.selector, f"expected {error.__name__}, got {type(raised).__name__}"
            assert tuple(raised.inputs.values()) == args
            return
        message = raised.revert_message or ""
        if message.startswith("0x") and all(c in "0123456789abcdefABCDEF" for c in message[2:]):
            # An error raised in a nested call or a constructor: Ape hands over the data as hex text.
            assert bytes.fromhex(message[2:]) == selector + encoded, f"expected {error.__name__}{args}, got {message}"
            return
        prefix = "custom error 0x" + selector.hex()
        if message.startswith("custom error"):
            assert message.startswith(prefix), f"expected {error.__name__}: {prefix!r}, got {message!r}"
            payload = message[len(prefix):].removeprefix(": ")
            if payload == encoded.hex():
                return
            # A reverted eth_call: anvil's text carries the arguments as raw bytes, trailing
            # white space trimmed.
            raws = {payload.encode("utf-8", errors="replace"), payload.encode("latin-1", errors="replace")}
            assert encoded.rstrip() in {raw.rstrip() for raw in raws}, f"expected {error.__name__}{args}, got {message!r}"
            return
        # A reverted view call through Ape: the raw revert data as a latin-1 string.
        raw = message.encode("latin-1", errors="replace")
        assert raw.rstrip() == (selector + encoded).rstrip(), f"expected {error.__name__}{args}, got {raw.hex()!r}"

    return check
