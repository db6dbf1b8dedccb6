"""othentic_offchain.crypto.verify: the verification equations and both pairing backends.

Pairings go through anvil's precompile (``precompile_backend``, ~6 ms a check); the pure-Python
PyEccBackend (~0.4 s a check) is exercised by a few explicit tests only.
"""

from __future__ import annotations

from types import SimpleNamespace

import ape
import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from othentic_offchain.crypto import (
    G1Point,
    G2Point,
    PrecompileBackend,
    PyEccBackend,
    aggregate_g1,
    aggregate_g2,
    aggregate_signatures,
    verify,
    verify_aggregate,
    verify_possession,
)
from othentic_offchain.crypto.bn254 import P, hash_to_g1
from othentic_offchain.crypto.verify import bound_aggregate_pairs, single_key_pairs

DIGEST = keccak(b"test_verify: the message")
OTHER_DIGEST = keccak(b"test_verify: another message")
POOL = 8  # size of the ``keypairs`` pool in conftest

PROPERTY = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
digests = st.binary(min_size=32, max_size=32)
subsets = st.lists(st.integers(0, POOL - 1), min_size=1, max_size=POOL, unique=True)


def _unswapped(point: G2Point) -> G2Point:
    return G2Point(x_real=point.x_imag, x_imag=point.x_real, y_real=point.y_imag, y_imag=point.y_real)


def _aggregate(keypairs, signers, digest, signatures=None):
    """(apk_g1, apk_g2, sigma) of ``signers``; ``signatures`` caches ``{index: signature}``."""
    signatures = {} if signatures is None else signatures
    for i in signers:
        if i not in signatures:
            signatures[i] = keypairs[i].sign(digest)
    return (
        aggregate_g1(keypairs[i].public.g1 for i in signers),
        aggregate_g2(keypairs[i].public.g2 for i in signers),
        aggregate_signatures(signatures[i] for i in signers),
    )


@ape.fixture(scope="module", chain_isolation=False)
def alice(keypairs):
    return keypairs[0]


@ape.fixture(scope="module", chain_isolation=False)
def alice_sig(alice):
    return alice.sign(DIGEST)


# --- round trip and rejections (precompile backend) -------------------------------------------


def test_sign_verify_round_trip(alice, alice_sig, precompile_backend):
    assert verify(alice.public.g2, DIGEST, alice_sig, precompile_backend) is True
    assert verify_aggregate(alice.public.g1, alice.public.g2, DIGEST, alice_sig, precompile_backend) is True


def test_wrong_message_is_rejected(alice, alice_sig, precompile_backend):
    assert verify(alice.public.g2, OTHER_DIGEST, alice_sig, precompile_backend) is False
    assert verify_aggregate(alice.public.g1, alice.public.g2, OTHER_DIGEST, alice_sig, precompile_backend) is False


def test_signature_by_another_key_is_rejected(keypairs, alice, alice_sig, precompile_backend):
    bob = keypairs[1].public
    assert verify(bob.g2, DIGEST, alice_sig, precompile_backend) is False
    assert verify_aggregate(bob.g1, bob.g2, DIGEST, alice_sig, precompile_backend) is False


def test_wrong_signer_set_is_rejected(keypairs, precompile_backend):
    apk_g1, apk_g2, _ = _aggregate(keypairs, [0, 1, 2], DIGEST)
    _, _, sigma_01 = _aggregate(keypairs, [0, 1], DIGEST)
    assert verify(apk_g2, DIGEST, sigma_01, precompile_backend) is False
    assert verify_aggregate(apk_g1, apk_g2, DIGEST, sigma_01, precompile_backend) is False


def test_g1_key_that_does_not_match_the_g2_key_is_rejected(keypairs, alice, alice_sig, precompile_backend):
    # The single-key check ignores G1; the bound check does not.
    assert verify_aggregate(keypairs[1].public.g1, alice.public.g2, DIGEST, alice_sig, precompile_backend) is False


def test_negated_signature_is_rejected(alice, alice_sig, precompile_backend):
    assert verify(alice.public.g2, DIGEST, -alice_sig, precompile_backend) is False


class _NoCalls:
    """A backend that fails the test if reached: the input must be rejected before any pairing."""

    def check(self, pairs):
        raise AssertionError("backend reached")


@pytest.mark.parametrize(
    "signature",
    [G1Point(1, 3), G1Point(1 + P, 2), G1Point(1, 2 + P), G1Point.infinity()],
    ids=["off-curve", "x>=p", "y>=p", "infinity"],
)
def test_malformed_signatures_are_rejected_before_any_pairing(alice, signature):
    assert verify(alice.public.g2, DIGEST, signature, _NoCalls()) is False
    assert verify_aggregate(alice.public.g1, alice.public.g2, DIGEST, signature, _NoCalls()) is False


@pytest.mark.parametrize(
    "apk_g1", [G1Point(1, 3), G1Point(1 + P, 2), G1Point.infinity()], ids=["off-curve", "x>=p", "infinity"]
)
def test_malformed_g1_keys_are_rejected_before_any_pairing(alice, alice_sig, apk_g1):
    assert verify_aggregate(apk_g1, alice.public.g2, DIGEST, alice_sig, _NoCalls()) is False


def test_infinity_as_g2_key_is_rejected(alice, alice_sig):
    assert verify(G2Point.infinity(), DIGEST, alice_sig, _NoCalls()) is False
    assert verify_aggregate(alice.public.g1, G2Point.infinity(), DIGEST, alice_sig, _NoCalls()) is False


def _bad_g2_keys(pk: G2Point, vectors) -> dict[str, G2Point]:
    subgroup_case = next(c for c in vectors["invalid_aggregates"] if "subgroup" in c["name"])
    return {
        "unswapped": _unswapped(pk),
        "x_real+p": G2Point(pk.x_real + P, pk.x_imag, pk.y_real, pk.y_imag),
        "y_imag+p": G2Point(pk.x_real, pk.x_imag, pk.y_real, pk.y_imag + P),
        "outside-subgroup": vectors.g2(subgroup_case["apk_g2"]),
    }


def test_malformed_g2_keys_are_rejected_by_the_precompile_backend(alice, alice_sig, precompile_backend, vectors):
    for name, pk in _bad_g2_keys(alice.public.g2, vectors).items():
        assert verify(pk, DIGEST, alice_sig, precompile_backend) is False, name
        assert verify_aggregate(alice.public.g1, pk, DIGEST, alice_sig, precompile_backend) is False, name


def test_malformed_g2_keys_are_rejected_by_the_py_ecc_backend(alice, alice_sig, vectors):
    # Each fails validation before any Miller loop, so this is fast. Before the fix in
    # bn254.pairing_product_is_one, py_ecc reduced a coordinate >= p mod p and accepted the key.
    for name, pk in _bad_g2_keys(alice.public.g2, vectors).items():
        assert verify(pk, DIGEST, alice_sig, PyEccBackend()) is False, name


# --- the py_ecc fallback (slow: ~0.4-0.7 s a check; a few explicit tests only) ----------------


def test_py_ecc_backend_accepts_a_valid_signature_and_is_the_default(alice, alice_sig):
    assert verify(alice.public.g2, DIGEST, alice_sig) is True  # no backend: PyEccBackend


def test_py_ecc_backend_rejects_a_wrong_message(alice, alice_sig):
    assert verify(alice.public.g2, OTHER_DIGEST, alice_sig, PyEccBackend()) is False


def test_py_ecc_backend_verifies_a_bound_aggregate(keypairs):
    apk_g1, apk_g2, sigma = _aggregate(keypairs, [1, 2, 3], DIGEST)
    assert verify_aggregate(apk_g1, apk_g2, DIGEST, sigma, PyEccBackend()) is True


def test_py_ecc_backend_rejects_a_g2_aggregate_of_another_signer_set(keypairs):
    apk_g1, _, sigma = _aggregate(keypairs, [1, 2], DIGEST)
    other_g2 = aggregate_g2(keypairs[i].public.g2 for i in (1, 3))
    assert verify_aggregate(apk_g1, other_g2, DIGEST, sigma, PyEccBackend()) is False


# --- the precompile backend itself --------------------------------------------------------------


def test_backends_see_the_same_pairing_input(alice, alice_sig, precompile_backend):
    pairs = bound_aggregate_pairs(DIGEST, alice.public.g1, alice.public.g2, alice_sig)
    assert precompile_backend.check(pairs) is True
    assert precompile_backend.check(single_key_pairs(DIGEST, alice.public.g2, alice_sig)) is True
    assert precompile_backend.check(single_key_pairs(OTHER_DIGEST, alice.public.g2, alice_sig)) is False


def test_precompile_backend_turns_a_failed_precompile_call_into_false(alice, alice_sig, precompile_backend):
    pairs = [(alice_sig, _unswapped(alice.public.g2)), (hash_to_g1(DIGEST), alice.public.g2)]
    assert precompile_backend.check(pairs) is False


def test_precompile_backend_does_not_swallow_unrelated_errors():
    def call(tx):
        raise ConnectionError("node down")

    w3 = SimpleNamespace(to_checksum_address=lambda a: a, eth=SimpleNamespace(call=call))
    with pytest.raises(ConnectionError):
        PrecompileBackend(w3).check([(G1Point.generator(), G2Point.generator())])


def test_precompile_backend_rejects_a_malformed_reply():
    w3 = SimpleNamespace(to_checksum_address=lambda a: a, eth=SimpleNamespace(call=lambda tx: b"\x01"))
    assert PrecompileBackend(w3).check([(G1Point.generator(), G2Point.generator())]) is False


# --- proof of possession ----------------------------------------------------------------------


def test_verify_possession_binds_operator_registry_and_chain(alice, precompile_backend):
    operator, registry = "0x" + "0a" * 20, "0x" + "0b" * 20
    proof = alice.proof_of_possession(operator, registry, 31337)
    assert verify_possession(alice.public, operator, registry, 31337, proof, precompile_backend)
    assert not verify_possession(alice.public, "0x" + "0c" * 20, registry, 31337, proof, precompile_backend)
    assert not verify_possession(alice.public, operator, "0x" + "0c" * 20, 31337, proof, precompile_backend)
    assert not verify_possession(alice.public, operator, registry, 1, proof, precompile_backend)


def test_a_vote_signature_is_not_a_proof_of_possession(alice, precompile_backend):
    operator, registry = "0x" + "0a" * 20, "0x" + "0b" * 20
    assert not verify_possession(alice.public, operator, registry, 31337, alice.sign(DIGEST), precompile_backend)


# --- properties over random signer subsets (precompile backend) --------------------------------


@PROPERTY
@given(signers=subsets, digest=digests)
def test_aggregate_signature_verifies_against_aggregate_keys(keypairs, precompile_backend, signers, digest):
    apk_g1, apk_g2, sigma = _aggregate(keypairs, signers, digest)
    assert verify(apk_g2, digest, sigma, precompile_backend)
    assert verify_aggregate(apk_g1, apk_g2, digest, sigma, precompile_backend)


@PROPERTY
@given(signers=st.lists(st.integers(0, POOL - 1), min_size=2, max_size=POOL, unique=True), data=st.data())
def test_dropping_one_signature_or_one_key_breaks_the_aggregate(keypairs, precompile_backend, signers, data):
    digest = data.draw(digests, label="digest")
    dropped = data.draw(st.sampled_from(signers), label="dropped")
    rest = [i for i in signers if i != dropped]
    signatures = {}
    apk_g1, apk_g2, sigma = _aggregate(keypairs, signers, digest, signatures)
    rest_g1, rest_g2, rest_sigma = _aggregate(keypairs, rest, digest, signatures)
    # one signature missing, all keys
    assert not verify(apk_g2, digest, rest_sigma, precompile_backend)
    assert not verify_aggregate(apk_g1, apk_g2, digest, rest_sigma, precompile_backend)
    # all signatures, one key missing
    assert not verify(rest_g2, digest, sigma, precompile_backend)
    assert not verify_aggregate(rest_g1, rest_g2, digest, sigma, precompile_backend)


@PROPERTY
@given(signers=subsets, others=subsets, digest=digests)
def test_g1_and_g2_aggregates_of_different_signer_sets_do_not_bind(
    keypairs, precompile_backend, signers, others, digest
):
    if set(signers) == set(others):
        others = [i for i in range(POOL) if i not in signers] or others[:-1]
    if not others:
        return
    apk_g1, apk_g2, sigma = _aggregate(keypairs, signers, digest)
    other_g1 = aggregate_g1(keypairs[i].public.g1 for i in others)
    other_g2 = aggregate_g2(keypairs[i].public.g2 for i in others)
    assert verify_aggregate(apk_g1, apk_g2, digest, sigma, precompile_backend)
    # The G2 aggregate of another subset fails, even paired with the matching signature's G1 key...
    assert not verify_aggregate(apk_g1, other_g2, digest, sigma, precompile_backend)
    # ...and so does the G1 aggregate of another subset with the right G2 key.
    assert not verify_aggregate(other_g1, apk_g2, digest, sigma, precompile_backend)
