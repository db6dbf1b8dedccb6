"""BN254 (alt_bn128) points, in the encodings the EVM precompiles and our contracts use.

Affine points are small immutable value types. G1 arithmetic (what attesters and aggregators do per
vote: sign, aggregate) runs on plain integers in Jacobian coordinates, about ten times faster than
``py_ecc``'s field objects (a signature: about 1 ms instead of 10); tests hold it equal to
``py_ecc.optimized_bn128``, which still does G2 and pairings (slow: keep those off hot paths).

Encodings, shared bit for bit with ``contracts/libraries/BN254.sol``:

* G1: ``(x, y)``; the point at infinity is ``(0, 0)``.
* G2: the precompiles want ``x_imag, x_real, y_imag, y_real`` (EIP-197). py_ecc's ``FQ2`` stores
  ``(real, imag)``. :class:`G2Point` names the four coordinates so the order is never guessed;
  :meth:`G2Point.words` gives the precompile order, which is also the Solidity struct layout
  ``G2Point { uint256[2] X; uint256[2] Y; }`` with ``X = [x_imag, x_real]``.
"""

from __future__ import annotations

from dataclasses import dataclass

from py_ecc import optimized_bn128 as ec
from py_ecc.fields import optimized_bn128_FQ as FQ
from py_ecc.fields import optimized_bn128_FQ2 as FQ2

#: Base field modulus p.
P = ec.field_modulus
#: Group order r (scalars live in Z_r).
R = ec.curve_order

_SQRT_EXPONENT = (P + 1) // 4  # p = 3 mod 4, so beta^((p+1)/4) is a square root when one exists


class InvalidPoint(ValueError):
    """Coordinates that are out of the field, off the curve or outside the prime-order subgroup."""


@dataclass(frozen=True, slots=True)
class G1Point:
    x: int
    y: int

    @classmethod
    def infinity(cls) -> G1Point:
        return cls(0, 0)

    @classmethod
    def generator(cls) -> G1Point:
        return cls(1, 2)

    @property
    def is_infinity(self) -> bool:
        return self.x == 0 and self.y == 0

    def words(self) -> tuple[int, int]:
        return (self.x, self.y)

    def validate(self) -> G1Point:
        """Raise :class:`InvalidPoint` unless this is a point of G1 (infinity included).

        G1 has cofactor 1, so being on the curve is enough.
        """
        if not (0 <= self.x < P and 0 <= self.y < P):
            raise InvalidPoint(f"G1 coordinate outside the base field: {self!r}")
        if not self.is_infinity and (self.y * self.y - self.x**3 - 3) % P != 0:
            raise InvalidPoint(f"G1 point is not on the curve y^2 = x^3 + 3: {self!r}")
        return self

    def to_ecc(self):
        if self.is_infinity:
            return ec.Z1
        return (FQ(self.x), FQ(self.y), FQ.one())

    def _jacobian(self) -> tuple[int, int, int]:
        return (self.x, self.y, 1) if not self.is_infinity else _J_INFINITY

    @classmethod
    def from_ecc(cls, point) -> G1Point:
        if ec.is_inf(point):
            return cls.infinity()
        x, y = ec.normalize(point)
        return cls(int(x), int(y))

    def __add__(self, other: G1Point) -> G1Point:
        return _j_to_affine(_j_add_affine(self._jacobian(), other))

    def __neg__(self) -> G1Point:
        return self if self.is_infinity else G1Point(self.x, (P - self.y) % P)

    def __sub__(self, other: G1Point) -> G1Point:
        return self + (-other)

    def __mul__(self, scalar: int) -> G1Point:
        return _j_to_affine(_j_multiply(self, scalar % R))

    @staticmethod
    def sum(points) -> G1Point:
        """The sum of many points with one field inversion (aggregation of signatures and keys)."""
        acc = _J_INFINITY
        for point in points:
            acc = _j_add_affine(acc, point)
        return _j_to_affine(acc)

    __rmul__ = __mul__


@dataclass(frozen=True, slots=True)
class G2Point:
    x_real: int
    x_imag: int
    y_real: int
    y_imag: int

    @classmethod
    def infinity(cls) -> G2Point:
        return cls(0, 0, 0, 0)

    @classmethod
    def generator(cls) -> G2Point:
        return cls.from_ecc(ec.G2)

    @classmethod
    def from_words(cls, words) -> G2Point:
        """From the precompile order ``[x_imag, x_real, y_imag, y_real]``."""
        x_imag, x_real, y_imag, y_real = (int(w) for w in words)
        return cls(x_real=x_real, x_imag=x_imag, y_real=y_real, y_imag=y_imag)

    @property
    def is_infinity(self) -> bool:
        return self.x_real == self.x_imag == self.y_real == self.y_imag == 0

    def words(self) -> tuple[int, int, int, int]:
        """The precompile order (EIP-197): ``x_imag, x_real, y_imag, y_real``."""
        return (self.x_imag, self.x_real, self.y_imag, self.y_real)

    def solidity(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The ``BN254.G2Point`` struct as ABI arguments: ``([x_imag, x_real], [y_imag, y_real])``."""
        return ((self.x_imag, self.x_real), (self.y_imag, self.y_real))

    def to_ecc(self):
        if self.is_infinity:
            return ec.Z2
        return (FQ2([self.x_real, self.x_imag]), FQ2([self.y_real, self.y_imag]), FQ2.one())

    @classmethod
    def from_ecc(cls, point) -> G2Point:
        if ec.is_inf(point):
            return cls.infinity()
        x, y = ec.normalize(point)
        return cls(int(x.coeffs[0]), int(x.coeffs[1]), int(y.coeffs[0]), int(y.coeffs[1]))

    def validate(self) -> G2Point:
        """Raise :class:`InvalidPoint` unless this is a point of the order-r subgroup of the twist.

        The subgroup check is one scalar multiplication by r (tens of milliseconds): do it when a
        key enters the system (registration), not per vote.
        """
        if not all(0 <= c < P for c in (self.x_real, self.x_imag, self.y_real, self.y_imag)):
            raise InvalidPoint(f"G2 coordinate outside the base field: {self!r}")
        if self.is_infinity:
            return self
        point = self.to_ecc()
        if not ec.is_on_curve(point, ec.b2):
            raise InvalidPoint(f"G2 point is not on the twist curve (swapped coordinates?): {self!r}")
        if not ec.is_inf(ec.multiply(point, R)):
            raise InvalidPoint(f"G2 point is not in the order-r subgroup: {self!r}")
        return self

    def __add__(self, other: G2Point) -> G2Point:
        return G2Point.from_ecc(ec.add(self.to_ecc(), other.to_ecc()))

    def __neg__(self) -> G2Point:
        return G2Point.from_ecc(ec.neg(self.to_ecc()))

    def __sub__(self, other: G2Point) -> G2Point:
        return self + (-other)

    def __mul__(self, scalar: int) -> G2Point:
        return G2Point.from_ecc(ec.multiply(self.to_ecc(), scalar % R))

    __rmul__ = __mul__


# --- G1 in Jacobian coordinates on plain integers -----------------------------------------------
# (X, Y, Z) stands for the affine point (X/Z^2, Y/Z^3); Z = 0 is the point at infinity. Formulas for
# a = 0 curves: "dbl-2009-l" doubling and "madd-2007-bl" addition of an affine point
# (hyperelliptic.org/EFD). Inputs are valid points; callers validate what comes from outside.

_J_INFINITY = (1, 1, 0)


def _j_double(point: tuple[int, int, int]) -> tuple[int, int, int]:
    x1, y1, z1 = point
    if z1 == 0 or y1 == 0:
        return _J_INFINITY
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = b * b % P
    d = 2 * ((x1 + b) * (x1 + b) - a - c) % P
    e = 3 * a % P
    x3 = (e * e - 2 * d) % P
    y3 = (e * (d - x3) - 8 * c) % P
    z3 = 2 * y1 * z1 % P
    return (x3, y3, z3)


def _j_add_affine(point: tuple[int, int, int], other: G1Point) -> tuple[int, int, int]:
    if other.is_infinity:
        return point
    x1, y1, z1 = point
    if z1 == 0:
        return (other.x, other.y, 1)
    z1z1 = z1 * z1 % P
    u2 = other.x * z1z1 % P
    s2 = other.y * z1 * z1z1 % P
    h = (u2 - x1) % P
    r = 2 * (s2 - y1) % P
    if h == 0:
        return _j_double(point) if r == 0 else _J_INFINITY
    hh = h * h % P
    i = 4 * hh % P
    j = h * i % P
    v = x1 * i % P
    x3 = (r * r - j - 2 * v) % P
    y3 = (r * (v - x3) - 2 * y1 * j) % P
    z3 = ((z1 + h) * (z1 + h) - z1z1 - hh) % P
    return (x3, y3, z3)


def _j_multiply(point: G1Point, scalar: int) -> tuple[int, int, int]:
    if scalar == 0 or point.is_infinity:
        return _J_INFINITY
    acc = _J_INFINITY
    for bit in bin(scalar)[2:]:
        acc = _j_double(acc)
        if bit == "1":
            acc = _j_add_affine(acc, point)
    return acc


def _j_to_affine(point: tuple[int, int, int]) -> G1Point:
    x, y, z = point
    if z == 0:
        return G1Point.infinity()
    z_inv = pow(z, -1, P)
    z_inv2 = z_inv * z_inv % P
    return G1Point(x * z_inv2 % P, y * z_inv2 * z_inv % P)


G1_GENERATOR = G1Point.generator()
G2_GENERATOR = G2Point.generator()
NEG_G2_GENERATOR = -G2_GENERATOR


def hash_to_g1(digest: bytes) -> G1Point:
    """Try-and-increment hash of a 32-byte digest to G1, identical to ``BN254.hashToG1``.

    ``x = digest mod p``; while ``x^3 + 3`` is not a square, ``x += 1``; ``y`` is the root
    ``(x^3 + 3)^((p+1)/4)`` as computed (not normalised to the smaller root), as the contract does.
    """
    if len(digest) != 32:
        raise ValueError(f"hash_to_g1 takes a 32-byte digest, got {len(digest)} bytes")
    x = int.from_bytes(digest, "big") % P
    while True:
        beta = (pow(x, 3, P) + 3) % P
        y = pow(beta, _SQRT_EXPONENT, P)
        if y * y % P == beta:
            return G1Point(x, y)
        x = (x + 1) % P


def pairing_input(pairs: list[tuple[G1Point, G2Point]]) -> bytes:
    """The pairing precompile's (0x08) input for ``prod e(g1_i, g2_i) == 1``."""
    out = bytearray()
    for g1, g2 in pairs:
        for word in (*g1.words(), *g2.words()):
            out += word.to_bytes(32, "big")
    return bytes(out)


def pairing_product_is_one(pairs: list[tuple[G1Point, G2Point]]) -> bool:
    """``prod e(g1_i, g2_i) == 1`` with py_ecc: one Miller loop per pair, one final exponentiation.

    Costs about 150 ms per pair plus 150 ms on this 2-core machine: a fallback for when no chain is
    at hand, never for a hot path (see :mod:`othentic_offchain.crypto.verify`).
    """
    acc = ec.FQ12.one()
    for g1, g2 in pairs:
        # Reject what the precompile rejects: coordinates >= p (py_ecc would silently reduce them
        # mod p, accepting a second encoding of the key), points off the curves, and G2 points
        # outside the order-r subgroup (one G2 multiplication, ~30 ms, small next to the pairing).
        g1.validate()
        if g2 != NEG_G2_GENERATOR:  # the constant needs no check, and a G2 check costs ~30 ms
            g2.validate()
        q, p_ = g2.to_ecc(), g1.to_ecc()
        if ec.is_inf(q) or ec.is_inf(p_):
            continue
        acc = acc * ec.pairing(q, p_, final_exponentiate=False)
    return ec.final_exponentiate(acc) == ec.FQ12.one()
