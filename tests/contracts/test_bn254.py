"""contracts/libraries/BN254.sol through contracts/test/BN254Harness.sol, on anvil.

Every revert path of the library has a test: EcAddFailed, EcMulFailed, PairingFailed and
ScalarOutOfRange. ModExpFailed has none on purpose: ``_expMod`` always sends the modexp precompile
(0x05) a well-formed 192-byte input (three 32-byte lengths, base, exponent, modulus p != 0), and
modexp has no invalid inputs of that shape. It can only fail by running out of gas, and then the
caller keeps 1/64 of at most ~1,360 gas (~21 gas), too little to reach the revert: the call ends in
out-of-gas, not ModExpFailed. Faking it (a mock precompile) would test nothing, so there is no test.
"""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak

from othentic_offchain.crypto import G1Point, G2Point, gamma, hash_to_g1
from othentic_offchain.crypto.bn254 import NEG_G2_GENERATOR, P, R

G1 = G1Point.generator()
G2 = G2Point.generator()
OFF_CURVE = G1Point(1, 3)


def _g1(result) -> G1Point:
    return G1Point(*result)


def _vector_args(vectors, digest: str, apk_g1: list, apk_g2: list, sigma: list) -> tuple:
    """verifyBound's ABI arguments from the vectors' hex words (G2 stays in precompile order)."""
    return (digest, vectors.g1(apk_g1).words(), vectors.g2(apk_g2).solidity(), vectors.g1(sigma).words())


def _unswapped(point: G2Point) -> tuple:
    return ((point.x_real, point.x_imag), (point.y_real, point.y_imag))


# --- hashToG1 and gamma against the vectors ----------------------------------------------------


def test_hashToG1_matches_every_message_vector(harness, vectors):
    for message in vectors["messages"]:
        assert _g1(harness.hashToG1(message["digest"])) == vectors.g1(message["hash_to_g1"]), message["digest"]


def test_hashToG1_matches_python_on_fresh_digests(harness):
    for i in range(8):
        digest = keccak(b"fresh digest %d" % i)
        assert _g1(harness.hashToG1(digest)) == hash_to_g1(digest)


def test_gamma_matches_every_signature_and_aggregate_vector(harness, vectors):
    messages = [vectors.g1(m["hash_to_g1"]) for m in vectors["messages"]]
    for entry in vectors["signatures"]:
        key = vectors["keys"][entry["key"]]
        _, pk_g1, pk_g2, sig = _vector_args(vectors, "", key["pk_g1"], key["pk_g2"], entry["signature"])
        result = harness.gamma(messages[entry["message"]].words(), pk_g1, pk_g2, sig)
        assert result == vectors.to_int(entry["gamma"]), entry
    for entry in vectors["aggregates"]:
        _, apk_g1, apk_g2, sigma = _vector_args(vectors, "", entry["apk_g1"], entry["apk_g2"], entry["signature"])
        result = harness.gamma(messages[entry["message"]].words(), apk_g1, apk_g2, sigma)
        assert result == vectors.to_int(entry["gamma"]), entry["signers"]


def test_gamma_hashes_any_words_without_validation(harness):
    # gamma is pure hashing: off-curve and infinity inputs are fine and match Python.
    args = (OFF_CURVE, G1Point.infinity(), G2Point.infinity(), G1Point(P - 1, P - 1))
    assert harness.gamma(args[0].words(), args[1].words(), args[2].solidity(), args[3].words()) == gamma(*args)


# --- verifyBound against the vectors -----------------------------------------------------------


def test_verifyBound_accepts_every_signature_vector(harness, vectors):
    for entry in vectors["signatures"]:
        key = vectors["keys"][entry["key"]]
        digest = vectors["messages"][entry["message"]]["digest"]
        args = _vector_args(vectors, digest, key["pk_g1"], key["pk_g2"], entry["signature"])
        assert harness.verifyBound(*args) is True, entry


def test_verifyBound_accepts_every_aggregate_vector(harness, vectors):
    for entry in vectors["aggregates"]:
        digest = vectors["messages"][entry["message"]]["digest"]
        args = _vector_args(vectors, digest, entry["apk_g1"], entry["apk_g2"], entry["signature"])
        assert harness.verifyBound(*args) is True, entry["signers"]


def test_verifyBound_fails_every_invalid_vector_as_labelled(harness, vectors, reverts_with):
    for case in vectors["invalid_aggregates"]:
        args = _vector_args(vectors, case["digest"], case["apk_g1"], case["apk_g2"], case["signature"])
        if case["evm"] == "false":
            assert harness.verifyBound(*args) is False, case["name"]
        else:
            with reverts_with(getattr(harness, case["evm"])):
                harness.verifyBound(*args, skip_trace=True)


def test_verifyBound_accepts_fresh_python_signatures(harness, keypairs):
    for i, keys in enumerate(keypairs[:4]):
        digest = keccak(b"fresh vote %d" % i)
        sig = keys.sign(digest)
        assert harness.verifyBound(digest, keys.public.g1.words(), keys.public.g2.solidity(), sig.words())


# --- isOnCurve, negate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "point, expected",
    [
        (G1, True),
        (G1Point.infinity(), True),
        (-G1, True),
        (OFF_CURVE, False),
        (G1Point(1 + P, 2), False),
        (G1Point(1, 2 + P), False),
        (G1Point(P, 0), False),
    ],
    ids=["generator", "infinity", "-generator", "off-curve", "x+p", "y+p", "x=p"],
)
def test_isOnCurve(harness, point, expected):
    assert harness.isOnCurve(point.words()) is expected


def test_negate_matches_python_and_keeps_infinity(harness, keypairs):
    assert _g1(harness.negate(G1.words())) == -G1 == G1Point(1, P - 2)
    assert _g1(harness.negate((0, 0))) == G1Point.infinity()
    pk = keypairs[0].public.g1
    assert _g1(harness.negate(pk.words())) == -pk


# --- plus (ecAdd) ----------------------------------------------------------------------------


def test_plus_matches_python(harness, keypairs):
    a, b = keypairs[0].public.g1, keypairs[1].public.g1
    assert _g1(harness.plus(a.words(), b.words())) == a + b
    assert _g1(harness.plus(a.words(), a.words())) == a + a
    assert _g1(harness.plus(a.words(), (-a).words())) == G1Point.infinity()
    assert _g1(harness.plus(a.words(), (0, 0))) == a


@pytest.mark.parametrize(
    "bad", [OFF_CURVE, G1Point(1 + P, 2), G1Point(1, 2 + P)], ids=["off-curve", "x>=p", "y>=p"]
)
def test_plus_reverts_EcAddFailed_on_invalid_points(harness, bad, reverts_with):
    with reverts_with(harness.EcAddFailed):
        harness.plus(G1.words(), bad.words(), skip_trace=True)
    with reverts_with(harness.EcAddFailed):
        harness.plus(bad.words(), G1.words(), skip_trace=True)


# --- scalarMul (ecMul) -------------------------------------------------------------------------


@pytest.mark.parametrize("scalar", [0, 1, 2, 12345, R - 1, 2**200 + 7])
def test_scalarMul_matches_python(harness, scalar):
    assert _g1(harness.scalarMul(G1.words(), scalar)) == G1 * scalar


@pytest.mark.parametrize("scalar", [R, R + 1, 2**256 - 1])
def test_scalarMul_reverts_ScalarOutOfRange_for_scalars_not_below_r(harness, scalar, reverts_with):
    with reverts_with(harness.ScalarOutOfRange, scalar):
        harness.scalarMul(G1.words(), scalar, skip_trace=True)


@pytest.mark.parametrize("bad", [OFF_CURVE, G1Point(1 + P, 2)], ids=["off-curve", "x>=p"])
def test_scalarMul_reverts_EcMulFailed_on_invalid_points(harness, bad, reverts_with):
    with reverts_with(harness.EcMulFailed):
        harness.scalarMul(bad.words(), 5, skip_trace=True)


# --- pairing ---------------------------------------------------------------------------------


def test_pairing_of_a_point_and_its_negation_is_one(harness):
    assert harness.pairing(G1.words(), G2.solidity(), (-G1).words(), G2.solidity()) is True
    assert harness.pairing(G1.words(), G2.solidity(), G1.words(), NEG_G2_GENERATOR.solidity()) is True
    assert harness.pairing(G1.words(), G2.solidity(), G1.words(), G2.solidity()) is False


def test_pairing_checks_a_signature_vector(harness, vectors):
    entry = vectors["signatures"][0]
    key = vectors["keys"][entry["key"]]
    h = vectors.g1(vectors["messages"][entry["message"]]["hash_to_g1"])
    sig, pk = vectors.g1(entry["signature"]), vectors.g2(key["pk_g2"])
    assert harness.pairing(sig.words(), NEG_G2_GENERATOR.solidity(), h.words(), pk.solidity()) is True
    assert harness.pairing(sig.words(), NEG_G2_GENERATOR.solidity(), (h + G1).words(), pk.solidity()) is False


def test_pairing_of_infinities_is_one(harness):
    assert harness.pairing((0, 0), G2.solidity(), G1.words(), ((0, 0), (0, 0))) is True


def test_pairing_reverts_PairingFailed_on_unswapped_g2(harness, reverts_with):
    with reverts_with(harness.PairingFailed):
        harness.pairing(G1.words(), _unswapped(G2), (-G1).words(), G2.solidity(), skip_trace=True)


def test_pairing_reverts_PairingFailed_on_g2_coordinate_not_below_p(harness, reverts_with):
    ((x_imag, x_real), y) = G2.solidity()
    with reverts_with(harness.PairingFailed):
        harness.pairing(G1.words(), ((x_imag, x_real + P), y), (-G1).words(), G2.solidity(), skip_trace=True)


def test_pairing_reverts_PairingFailed_on_g2_outside_the_subgroup(harness, vectors, reverts_with):
    case = next(c for c in vectors["invalid_aggregates"] if "subgroup" in c["name"])
    outside = vectors.g2(case["apk_g2"]).solidity()
    with reverts_with(harness.PairingFailed):
        harness.pairing(G1.words(), outside, (-G1).words(), G2.solidity(), skip_trace=True)


@pytest.mark.parametrize("bad", [OFF_CURVE, G1Point(1 + P, 2)], ids=["off-curve", "x>=p"])
def test_pairing_reverts_PairingFailed_on_invalid_g1(harness, bad, reverts_with):
    with reverts_with(harness.PairingFailed):
        harness.pairing(bad.words(), G2.solidity(), (-G1).words(), G2.solidity(), skip_trace=True)


# --- verifyBound: each revert, named ------------------------------------------------------------


@ape.fixture(scope="module", chain_isolation=False)
def signed(keypairs):
    digest = keccak(b"test_bn254 signed digest")
    keys = keypairs[0]
    return digest, keys.public.g1, keys.public.g2, keys.sign(digest)


def test_verifyBound_reverts_EcAddFailed_when_sigma_is_off_the_curve(harness, signed, reverts_with):
    digest, pk_g1, pk_g2, _ = signed
    with reverts_with(harness.EcAddFailed):
        harness.verifyBound(digest, pk_g1.words(), pk_g2.solidity(), OFF_CURVE.words(), skip_trace=True)


def test_verifyBound_reverts_EcMulFailed_when_the_g1_key_is_off_the_curve(harness, signed, reverts_with):
    digest, _, pk_g2, sig = signed
    with reverts_with(harness.EcMulFailed):
        harness.verifyBound(digest, OFF_CURVE.words(), pk_g2.solidity(), sig.words(), skip_trace=True)


def test_verifyBound_reverts_PairingFailed_on_unswapped_g2_key(harness, signed, reverts_with):
    digest, pk_g1, pk_g2, sig = signed
    with reverts_with(harness.PairingFailed):
        harness.verifyBound(digest, pk_g1.words(), _unswapped(pk_g2), sig.words(), skip_trace=True)


def test_verifyBound_returns_false_for_infinity_points(harness, signed):
    digest, pk_g1, pk_g2, sig = signed
    infinity_g2 = ((0, 0), (0, 0))
    assert harness.verifyBound(digest, pk_g1.words(), pk_g2.solidity(), sig.words()) is True
    assert harness.verifyBound(digest, pk_g1.words(), pk_g2.solidity(), (0, 0)) is False
    assert harness.verifyBound(digest, (0, 0), pk_g2.solidity(), sig.words()) is False
    assert harness.verifyBound(digest, pk_g1.words(), infinity_g2, sig.words()) is False


def test_reverts_with_tells_the_errors_apart(harness, reverts_with):
    # Guards the helper: ape.reverts(harness.EcMulFailed) alone would pass on this EcAddFailed.
    with pytest.raises(AssertionError, match="EcMulFailed"):
        with reverts_with(harness.EcMulFailed):
            harness.plus(G1.words(), OFF_CURVE.words(), skip_trace=True)
    with pytest.raises(AssertionError):
        with reverts_with(harness.ScalarOutOfRange, R):
            harness.scalarMul(G1.words(), R + 1, skip_trace=True)
