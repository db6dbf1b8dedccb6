"""Shared fixtures: the BLS test vectors, a pool of key pairs, the contracts under test.

``ape test`` runs on anvil (``ethereum: local: default_provider: foundry``); Ape's pytest plugin
supplies ``chain``, ``project`` and ``accounts``. Fixtures that leave the chain alone are declared
with ``ape.fixture(chain_isolation=False)``, so that Ape does not revert and rebuild fixtures when
one is first used in the middle of a module.
"""

from __future__ import annotations

import json
from pathlib import Path

import ape
import pytest

from othentic_offchain.crypto import G1Point, G2Point, KeyPair, PrecompileBackend
from tests.reverts import reverts_with as reverts_matcher

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
    """The revert matcher of :mod:`tests.reverts`, as a fixture."""
    return reverts_matcher
