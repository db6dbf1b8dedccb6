"""othentic_offchain.crypto.bn254: point encodings, validation, hash to G1, pairing input.

(Named test_bn254_points.py because tests/contracts/test_bn254.py holds the Solidity library's
tests and pytest's default import mode needs unique basenames.)
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from othentic_offchain.crypto import G1Point, G2Point, InvalidPoint, hash_to_g1
from othentic_offchain.crypto.bn254 import NEG_G2_GENERATOR, P, R, pairing_input, pairing_product_is_one

G1 = G1Point.generator()
G2 = G2Point.generator()


def _unswapped(point: G2Point) -> G2Point:
    return G2Point(x_real=point.x_imag, x_imag=point.x_real, y_real=point.y_imag, y_imag=point.y_real)


# --- G1 ---------------------------------------------------------------------------------------


def test_g1_generator_and_infinity_are_valid():
    assert G1.validate() is G1
    assert G1Point.infinity().validate().is_infinity


@pytest.mark.parametrize("point", [G1Point(1, 3), G1Point(0, 1), G1Point(2, 2)], ids=str)
def test_g1_points_off_the_curve_are_rejected(point):
    with pytest.raises(InvalidPoint, match="not on the curve"):
        point.validate()


@pytest.mark.parametrize(
    "point", [G1Point(1 + P, 2), G1Point(1, 2 + P), G1Point(P, 0), G1Point(-1, 2)], ids=["x+p", "y+p", "x=p", "x<0"]
)
def test_g1_coordinates_outside_the_field_are_rejected(point):
    with pytest.raises(InvalidPoint, match="outside the base field"):
        point.validate()


def test_g1_negation_and_subtraction():
    assert -G1 == G1Point(1, P - 2)
    assert (G1 - G1).is_infinity
    assert -G1Point.infinity() == G1Point.infinity()
    assert G1 * 2 == G1 + G1 == 2 * G1


def test_g1_scalars_are_reduced_mod_r():
    assert (G1 * R).is_infinity
    assert G1 * (R + 5) == G1 * 5
    assert G1 * (R - 1) == -G1


@settings(max_examples=20, deadline=None)
@given(a=st.integers(1, R - 1), b=st.integers(1, R - 1))
def test_g1_scalar_multiplication_is_linear(a, b):
    assert G1 * a + G1 * b == G1 * ((a + b) % R)


# --- G2 ---------------------------------------------------------------------------------------


def test_g2_generator_is_valid_and_words_are_in_precompile_order():
    G2.validate()
    # EIP-197's generator, precompile order: x_imag, x_real, y_imag, y_real.
    assert G2.words() == (
        0x198E9393920D483A7260BFB731FB5D25F1AA493335A9E71297E485B7AEF312C2,
        0x1800DEEF121F1E76426A00665E5C4479674322D4F75EDADD46DEBD5CD992F6ED,
        0x090689D0585FF075EC9E99AD690C3395BC4B313370B38EF355ACDADCD122975B,
        0x12C85EA5DB8C6DEB4AAB71808DCB408FE3D1E7690C43D37B4CE6CC0166FA7DAA,
    )
    assert G2.solidity() == ((G2.x_imag, G2.x_real), (G2.y_imag, G2.y_real))
    assert G2Point.from_words(G2.words()) == G2


def test_g2_unswapped_coordinates_are_off_the_twist():
    with pytest.raises(InvalidPoint, match="twist"):
        _unswapped(G2).validate()


@pytest.mark.parametrize("field", ["x_real", "x_imag", "y_real", "y_imag"])
def test_g2_coordinates_outside_the_field_are_rejected(field):
    coords = {f: getattr(G2, f) for f in ("x_real", "x_imag", "y_real", "y_imag")}
    coords[field] += P
    with pytest.raises(InvalidPoint, match="outside the base field"):
        G2Point(**coords).validate()


def test_g2_point_outside_the_subgroup_is_rejected(vectors):
    case = next(c for c in vectors["invalid_aggregates"] if "subgroup" in c["name"])
    with pytest.raises(InvalidPoint, match="subgroup"):
        vectors.g2(case["apk_g2"]).validate()


def test_g2_infinity_and_negation():
    assert G2Point.infinity().validate().is_infinity
    assert (G2 + NEG_G2_GENERATOR).is_infinity
    assert G2 * (R - 1) == NEG_G2_GENERATOR


# --- hash to G1 -------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(digest=st.binary(min_size=32, max_size=32))
def test_hash_to_g1_lands_on_the_curve_at_the_first_square_from_the_digest(digest):
    point = hash_to_g1(digest)
    point.validate()
    x0 = int.from_bytes(digest, "big") % P
    steps = (point.x - x0) % P
    assert steps < 100
    for x in range(x0, x0 + steps):  # every skipped x has no square root of x^3 + 3
        beta = (pow(x, 3, P) + 3) % P
        assert pow(beta, (P - 1) // 2, P) == P - 1


def test_hash_to_g1_maps_neighbouring_digests_to_one_point():
    # Inherent to try-and-increment: if x^3 + 3 has no root at x = d, digests d and d + 1 share a
    # point. Harmless because every signed digest is a keccak output (nobody picks neighbours),
    # but a reason to never sign raw, caller-chosen 32-byte values.
    x = next(x for x in range(2, 100) if pow(x**3 + 3, (P - 1) // 2, P) == P - 1)
    assert hash_to_g1(x.to_bytes(32, "big")) == hash_to_g1((x + 1).to_bytes(32, "big"))


@pytest.mark.parametrize("digest", [b"", b"\x00" * 31, b"\x00" * 33, b"\x00" * 64])
def test_hash_to_g1_takes_exactly_32_bytes(digest):
    with pytest.raises(ValueError, match="32-byte"):
        hash_to_g1(digest)


# --- pairing input ----------------------------------------------------------------------------


def test_pairing_input_is_192_bytes_per_pair_in_precompile_order():
    data = pairing_input([(G1, G2), (-G1, NEG_G2_GENERATOR)])
    assert len(data) == 2 * 192
    words = [int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32)]
    assert words[:6] == [1, 2, *G2.words()]
    assert words[6:] == [*(-G1).words(), *NEG_G2_GENERATOR.words()]


def test_py_ecc_pairing_product_raises_on_invalid_points_before_pairing():
    with pytest.raises(InvalidPoint):
        pairing_product_is_one([(G1Point(1, 3), G2)])
    with pytest.raises(InvalidPoint):
        pairing_product_is_one([(G1, _unswapped(G2))])
    with pytest.raises(InvalidPoint):
        pairing_product_is_one([(G1, G2Point(G2.x_real + P, G2.x_imag, G2.y_real, G2.y_imag))])


def test_py_ecc_pairing_product_skips_infinity_pairs_like_the_precompile():
    assert pairing_product_is_one([(G1Point.infinity(), G2), (G1, G2Point.infinity())])


# --- the integer Jacobian G1 arithmetic against py_ecc --------------------------------------------

from py_ecc import optimized_bn128 as _ec  # noqa: E402


def _reference_mul(point: G1Point, scalar: int) -> G1Point:
    return G1Point.from_ecc(_ec.multiply(point.to_ecc(), scalar % R))


def _reference_add(a: G1Point, b: G1Point) -> G1Point:
    return G1Point.from_ecc(_ec.add(a.to_ecc(), b.to_ecc()))


@given(st.integers(min_value=0, max_value=2**256 - 1), st.integers(min_value=1, max_value=2**64))
@settings(max_examples=60, deadline=None)
def test_g1_multiplication_equals_py_ecc_for_any_scalar_and_base(scalar, base_scalar):
    base = _reference_mul(G1Point.generator(), base_scalar)
    assert base * scalar == _reference_mul(base, scalar)


@given(st.integers(min_value=0, max_value=2**64), st.integers(min_value=0, max_value=2**64))
@settings(max_examples=60, deadline=None)
def test_g1_addition_equals_py_ecc_including_doubling_inverse_and_infinity(a, b):
    g = G1Point.generator()
    pa, pb = _reference_mul(g, a), _reference_mul(g, b)
    assert pa + pb == _reference_add(pa, pb)
    assert pa + pa == _reference_add(pa, pa)  # doubling through the addition formula
    assert pa + (-pa) == G1Point.infinity()
    assert pa + G1Point.infinity() == pa and G1Point.infinity() + pa == pa


@given(st.lists(st.integers(min_value=0, max_value=2**64), max_size=12))
@settings(max_examples=40, deadline=None)
def test_g1_sum_of_many_points_equals_pairwise_py_ecc_sum(scalars):
    points = [_reference_mul(G1Point.generator(), k) for k in scalars]
    expected = G1Point.infinity()
    for point in points:
        expected = _reference_add(expected, point)
    assert G1Point.sum(points) == expected
    assert G1Point.sum(points + points) == _reference_add(expected, expected)


def test_g1_multiplication_by_the_group_order_and_zero_is_infinity():
    g = G1Point.generator()
    assert g * 0 == G1Point.infinity()
    assert g * R == G1Point.infinity()
    assert g * (R - 1) == -g
    assert G1Point.infinity() * 5 == G1Point.infinity()
