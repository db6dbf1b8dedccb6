"""othentic_offchain.crypto.bls: secret keys, key pairs, signing, aggregation, proofs of possession.

Verification (and the properties that need pairings) is in test_verify.py.
"""

from __future__ import annotations

import copy
import pickle

import pytest

from othentic_offchain.crypto import (
    G1Point,
    G2Point,
    KeyPair,
    PublicKey,
    SecretKey,
    aggregate_g1,
    aggregate_g2,
    aggregate_public_keys,
    aggregate_signatures,
    hash_to_g1,
    pop_hash,
    prove_possession,
    sign,
)
from othentic_offchain.crypto.bn254 import R

DIGEST = bytes.fromhex("5e" * 32)


# --- SecretKey: range --------------------------------------------------------------------------


@pytest.mark.parametrize("scalar", [0, R, R + 1, -1, -(R - 1), 2**256])
def test_secret_key_rejects_scalars_outside_1_to_r_minus_1(scalar):
    with pytest.raises(ValueError, match=r"\[1, r-1\]"):
        SecretKey(scalar)


@pytest.mark.parametrize("scalar", [1, 2, R - 1])
def test_secret_key_accepts_the_bounds_of_1_to_r_minus_1(scalar):
    assert SecretKey(scalar).scalar == scalar


def test_secret_key_random_is_in_range_and_fresh():
    scalars = {SecretKey.random().scalar for _ in range(8)}
    assert len(scalars) == 8
    assert all(0 < s < R for s in scalars)


# --- SecretKey: secrecy ------------------------------------------------------------------------


def _renderings(scalar: int) -> list[str]:
    """Every way the scalar could leak into a string: decimal, hex with and without padding."""
    return [str(scalar), hex(scalar), f"{scalar:x}", f"{scalar:X}", f"{scalar:064x}"]


@pytest.mark.parametrize("scalar", [R - 1, 0x1234567890ABCDEF1234567890ABCDEF, 987654321987654321])
def test_secret_key_repr_and_str_never_contain_the_scalar(scalar):
    key = SecretKey(scalar)
    for text in (repr(key), str(key), f"{key}", f"{key!r}", format(key), repr([key]), repr({"k": key})):
        for leaked in _renderings(scalar):
            assert leaked.lower() not in text.lower(), text
    assert "hidden" in repr(key)


def test_keypair_repr_and_str_never_contain_the_scalar():
    keys = KeyPair.from_seed(b"repr test seed, 32 bytes long..")
    for text in (repr(keys), str(keys), f"{keys}", repr([keys])):
        for leaked in _renderings(keys.secret.scalar):
            assert leaked.lower() not in text.lower(), text
    assert "hidden" in repr(keys)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_a_secret_key_is_refused(protocol):
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(SecretKey(12345), protocol=protocol)


def test_pickling_a_keypair_is_refused():
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(KeyPair.from_seed(b"pickle test seed, 32 bytes long"))


def test_copying_a_secret_key_is_refused_too():
    # copy/deepcopy go through the same __reduce_ex__ as pickle.
    with pytest.raises(TypeError):
        copy.deepcopy(SecretKey(12345))


def test_secret_key_is_not_hashable_but_compares_by_value():
    assert SecretKey(7) == SecretKey(7)
    assert SecretKey(7) != SecretKey(8)
    assert SecretKey(7) != 7
    with pytest.raises(TypeError):
        hash(SecretKey(7))


# --- from_seed --------------------------------------------------------------------------------


def test_from_seed_is_deterministic():
    seed = b"deterministic seed, any length >= 16"
    assert SecretKey.from_seed(seed) == SecretKey.from_seed(seed)
    assert KeyPair.from_seed(seed).public == KeyPair.from_seed(seed).public


def test_from_seed_separates_seeds():
    scalars = {SecretKey.from_seed(bytes([i]) * 16).scalar for i in range(16)}
    assert len(scalars) == 16
    assert SecretKey.from_seed(b"\x00" * 16) != SecretKey.from_seed(b"\x00" * 17)


@pytest.mark.parametrize("seed", [b"", b"short", b"x" * 15])
def test_from_seed_rejects_seeds_shorter_than_16_bytes(seed):
    with pytest.raises(ValueError, match="16 bytes"):
        SecretKey.from_seed(seed)


def test_keypair_public_keys_are_the_scalar_times_the_generators():
    keys = KeyPair.from_secret(SecretKey(5))
    g1, g2 = G1Point.generator(), G2Point.generator()
    assert keys.public.g1 == g1 + g1 + g1 + g1 + g1
    assert keys.public.g2 == g2 + g2 + g2 + g2 + g2
    keys.public.g1.validate()
    keys.public.g2.validate()


# --- signing and aggregation -------------------------------------------------------------------


def test_sign_is_the_scalar_times_the_message_point():
    keys = KeyPair.from_secret(SecretKey(3))
    h = hash_to_g1(DIGEST)
    assert sign(keys.secret, DIGEST) == keys.sign(DIGEST) == h + h + h


def test_sign_is_deterministic_and_depends_on_the_message():
    keys = KeyPair.from_seed(b"signing test seed, 32 bytes....")
    assert keys.sign(DIGEST) == keys.sign(DIGEST)
    assert keys.sign(DIGEST) != keys.sign(bytes(32))


@pytest.mark.parametrize("digest", [b"", b"\x01" * 31, b"\x01" * 33])
def test_sign_rejects_digests_that_are_not_32_bytes(digest):
    with pytest.raises(ValueError, match="32-byte"):
        KeyPair.from_secret(SecretKey(3)).sign(digest)


def test_aggregates_of_nothing_are_infinity():
    assert aggregate_signatures([]).is_infinity
    assert aggregate_g1([]).is_infinity
    assert aggregate_g2([]).is_infinity


def test_aggregate_signature_is_the_signature_of_the_summed_secrets(keypairs):
    chosen = keypairs[:3]
    total = sum(k.secret.scalar for k in chosen) % R
    assert aggregate_signatures(k.sign(DIGEST) for k in chosen) == sign(SecretKey(total), DIGEST)
    public = aggregate_public_keys(k.public for k in chosen)
    assert public == KeyPair.from_secret(SecretKey(total)).public
    assert public == chosen[0].public + chosen[1].public + chosen[2].public


def test_aggregation_is_order_independent(keypairs):
    sigs = [k.sign(DIGEST) for k in keypairs[:4]]
    assert aggregate_signatures(sigs) == aggregate_signatures(reversed(sigs))
    assert aggregate_g2(k.public.g2 for k in keypairs[:4]) == aggregate_g2(k.public.g2 for k in keypairs[3::-1])


def test_public_key_of_a_pair_and_its_negation_aggregates_to_infinity(keypairs):
    keys = keypairs[0].public
    negated = PublicKey(-keys.g1, -keys.g2)
    total = aggregate_public_keys([keys, negated])
    assert total.g1.is_infinity and total.g2.is_infinity


# --- proof of possession -----------------------------------------------------------------------


def test_proof_of_possession_signs_the_pop_digest(keypairs):
    keys = keypairs[0]
    operator, registry = "0x" + "12" * 20, "0x" + "34" * 20
    digest = pop_hash(operator, registry, 31337, keys.public.g1, keys.public.g2)
    assert prove_possession(keys, operator, registry, 31337) == keys.sign(digest)
    assert keys.proof_of_possession(operator, registry, 31337) == keys.sign(digest)
    assert keys.proof_of_possession(operator, registry, 1) != keys.sign(digest)
