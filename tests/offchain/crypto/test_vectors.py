"""The shared vectors (tests/vectors/bls_vectors.json): up to date, and matched by the Python side.

The Solidity side is held to the same file by tests/contracts/.
"""

from __future__ import annotations

from py_ecc import optimized_bn128 as ec

from othentic_offchain.crypto import (
    KeyPair,
    PublicKey,
    PyEccBackend,
    SecretKey,
    gamma,
    hash_to_g1,
    pop_hash,
    task_hash,
    verify,
    verify_aggregate,
    verify_possession,
    vote_hash,
)
from othentic_offchain.crypto.bn254 import P, R
from othentic_offchain.crypto.hashes import encode_task, encode_vote
from tests.vectors import generate as vectors_generator  # noqa: E402


def test_generator_reproduces_the_committed_file_exactly(vectors):
    generator = vectors_generator
    assert generator.OUTPUT.read_text() == generator.render(generator.build()), (
        "tests/vectors/bls_vectors.json is stale: run python tests/vectors/generate.py and review the diff"
    )


def test_generator_check_mode_passes_on_the_committed_file():
    assert vectors_generator.main(["--check"]) == 0


def test_vectors_have_a_version_and_the_curve_constants(vectors):
    assert vectors["version"] == 1
    assert vectors.to_int(vectors["curve"]["p"]) == P == ec.field_modulus
    assert vectors.to_int(vectors["curve"]["r"]) == R == ec.curve_order


def test_keys_match_from_seed_and_independent_py_ecc_multiplication(vectors):
    for i, key in enumerate(vectors["keys"]):
        keys = KeyPair.from_seed(vectors.to_bytes(key["seed"]))
        secret = vectors.to_int(key["secret"])
        assert keys.secret.scalar == secret, i
        assert keys.public.g1 == vectors.g1(key["pk_g1"]), i
        assert keys.public.g2 == vectors.g2(key["pk_g2"]), i
        # Independently of G1Point/G2Point: raw py_ecc and the precompile word order by hand.
        x, y = ec.normalize(ec.multiply(ec.G1, secret))
        assert [int(x), int(y)] == [vectors.to_int(w) for w in key["pk_g1"]], i
        x2, y2 = ec.normalize(ec.multiply(ec.G2, secret))
        expected = [int(x2.coeffs[1]), int(x2.coeffs[0]), int(y2.coeffs[1]), int(y2.coeffs[0])]
        assert [vectors.to_int(w) for w in key["pk_g2"]] == expected, i


def test_hash_to_g1_matches_every_message_vector(vectors):
    for message in vectors["messages"]:
        digest = vectors.to_bytes(message["digest"])
        point = hash_to_g1(digest)
        assert point == vectors.g1(message["hash_to_g1"]), message["digest"]
        assert (point.x - int.from_bytes(digest, "big") % P) % P == message["increments"]
        point.validate()


def test_signatures_and_their_gammas_match_every_vector(vectors):
    pairs = [KeyPair.from_secret(SecretKey(vectors.to_int(k["secret"]))) for k in vectors["keys"]]
    for entry in vectors["signatures"]:
        keys = pairs[entry["key"]]
        digest = vectors.to_bytes(vectors["messages"][entry["message"]]["digest"])
        signature = keys.sign(digest)
        assert signature == vectors.g1(entry["signature"]), entry
        assert gamma(hash_to_g1(digest), keys.public.g1, keys.public.g2, signature) == vectors.to_int(entry["gamma"])


def test_every_signature_vector_verifies(vectors, precompile_backend):
    # The G2-only check here; the bound check of every vector runs in the contract tests.
    for entry in vectors["signatures"]:
        key = vectors["keys"][entry["key"]]
        digest = vectors.to_bytes(vectors["messages"][entry["message"]]["digest"])
        assert verify(vectors.g2(key["pk_g2"]), digest, vectors.g1(entry["signature"]), precompile_backend), entry


def test_aggregates_match_and_verify(vectors, precompile_backend):
    for entry in vectors["aggregates"]:
        keys = [vectors["keys"][i] for i in entry["signers"]]
        apk_g1 = sum((vectors.g1(k["pk_g1"]) for k in keys[1:]), vectors.g1(keys[0]["pk_g1"]))
        apk_g2 = sum((vectors.g2(k["pk_g2"]) for k in keys[1:]), vectors.g2(keys[0]["pk_g2"]))
        sigs = [
            vectors.g1(s["signature"])
            for s in vectors["signatures"]
            if s["message"] == entry["message"] and s["key"] in entry["signers"]
        ]
        assert len(sigs) == len(entry["signers"])
        sigma = sum(sigs[1:], sigs[0])
        assert apk_g1 == vectors.g1(entry["apk_g1"])
        assert apk_g2 == vectors.g2(entry["apk_g2"])
        assert sigma == vectors.g1(entry["signature"])
        digest = vectors.to_bytes(vectors["messages"][entry["message"]]["digest"])
        assert gamma(hash_to_g1(digest), apk_g1, apk_g2, sigma) == vectors.to_int(entry["gamma"])
        assert verify_aggregate(apk_g1, apk_g2, digest, sigma, precompile_backend), entry["signers"]


def test_task_hashes_match_every_vector(vectors):
    for case in vectors["task_hashes"]:
        args = (case["proof_of_task"], vectors.to_bytes(case["data"]), case["performer"], case["task_definition_id"])
        assert "0x" + encode_task(*args).hex() == case["encoding"]
        assert "0x" + task_hash(*args).hex() == case["task_hash"]


def test_vote_hashes_match_every_vector(vectors):
    for case in vectors["vote_hashes"]:
        args = (
            case["proof_of_task"],
            vectors.to_bytes(case["data"]),
            case["performer"],
            case["task_definition_id"],
            case["attestation_center"],
            case["chain_id"],
            case["is_approved"],
        )
        assert "0x" + encode_vote(*args).hex() == case["encoding"]
        assert "0x" + vote_hash(*args).hex() == case["vote_hash"]


def test_proofs_of_possession_match_and_verify(vectors, precompile_backend):
    for case in vectors["proofs_of_possession"]:
        key = vectors["keys"][case["key"]]
        keys = KeyPair.from_secret(SecretKey(vectors.to_int(key["secret"])))
        assert keys.public.g1 == vectors.g1(case["pk_g1"]) and keys.public.g2 == vectors.g2(case["pk_g2"])
        digest = pop_hash(case["operator"], case["registry"], case["chain_id"], keys.public.g1, keys.public.g2)
        assert "0x" + digest.hex() == case["pop_hash"]
        proof = keys.proof_of_possession(case["operator"], case["registry"], case["chain_id"])
        assert proof == vectors.g1(case["signature"])
        public = PublicKey(keys.public.g1, keys.public.g2)
        where = (case["operator"], case["registry"])
        assert verify_possession(public, *where, case["chain_id"], proof, precompile_backend)
        assert not verify_possession(public, *where, case["chain_id"] + 1, proof, precompile_backend)


def _invalid_args(vectors, case):
    return (
        vectors.g1(case["apk_g1"]),
        vectors.g2(case["apk_g2"]),
        vectors.to_bytes(case["digest"]),
        vectors.g1(case["signature"]),
    )


def test_every_invalid_aggregate_vector_is_rejected(vectors, precompile_backend):
    for case in vectors["invalid_aggregates"]:
        assert verify_aggregate(*_invalid_args(vectors, case), backend=precompile_backend) is False, case["name"]


def test_py_ecc_backend_rejects_every_malformed_vector(vectors):
    """Malformed points (every case the contracts revert on, and infinities) fail before any pairing,
    so the slow backend is cheap here; it must agree with the precompile."""
    backend = PyEccBackend()
    malformed = [c for c in vectors["invalid_aggregates"] if c["evm"] != "false" or "infinity" in c["name"]]
    assert len(malformed) >= 10
    for case in malformed:
        assert verify_aggregate(*_invalid_args(vectors, case), backend=backend) is False, case["name"]
