// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

/// @title BN254
/// @notice Arithmetic on the BN254 (alt_bn128) curve through the EVM precompiles, try-and-increment
///         hashing to G1, and the BLS check that binds an aggregate G1 key to an aggregate G2 key.
/// @dev    Encodings are shared bit for bit with `othentic_offchain/crypto/bn254.py`:
///         G1 = (X, Y), infinity = (0, 0); G2 in the precompile order, X = [x_imag, x_real],
///         Y = [y_imag, y_real]. `tests/vectors/bls_vectors.json` holds the two sides together.
library BN254 {
    /// @notice Base field modulus p.
    uint256 internal constant P = 21888242871839275222246405745257275088696311157297823662689037894645226208583;
    /// @notice Group order r.
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @dev (p + 1) / 4: p = 3 mod 4, so beta^((p+1)/4) is a square root of beta when one exists.
    uint256 private constant SQRT_EXPONENT = 5472060717959818805561601436314318772174077789324455915672259473661306552146;

    // Negation of the standard G2 generator, precompile order.
    uint256 private constant NEG_G2_X_IMAG = 11559732032986387107991004021392285783925812861821192530917403151452391805634;
    uint256 private constant NEG_G2_X_REAL = 10857046999023057135944570762232829481370756359578518086990519993285655852781;
    uint256 private constant NEG_G2_Y_IMAG = 17805874995975841540914202342111839520379459829704422454583296818431106115052;
    uint256 private constant NEG_G2_Y_REAL = 13392588948715843804641432497768002650278120570034223513918757245338268106653;

    struct G1Point {
        uint256 X;
        uint256 Y;
    }

    /// @dev X = [x_imag, x_real], Y = [y_imag, y_real] (EIP-197 order).
    struct G2Point {
        uint256[2] X;
        uint256[2] Y;
    }

    /// @notice The ecAdd precompile (0x06) rejected its input: a coordinate >= p or a point off the curve.
    error EcAddFailed();
    /// @notice The ecMul precompile (0x07) rejected its input: a coordinate >= p or a point off the curve.
    error EcMulFailed();
    /// @notice The pairing precompile (0x08) rejected its input: a coordinate >= p, a point off its
    ///         curve, a G2 point outside the subgroup, or G2 coordinates in the wrong order.
    error PairingFailed();
    /// @notice The modexp precompile (0x05) failed.
    error ModExpFailed();
    /// @notice A scalar that is not reduced modulo the group order r.
    error ScalarOutOfRange(uint256 scalar);

    function generatorG1() internal pure returns (G1Point memory) {
        return G1Point(1, 2);
    }

    function negGeneratorG2() internal pure returns (G2Point memory) {
        return G2Point([NEG_G2_X_IMAG, NEG_G2_X_REAL], [NEG_G2_Y_IMAG, NEG_G2_Y_REAL]);
    }

    function isInfinity(G1Point memory p) internal pure returns (bool) {
        return p.X == 0 && p.Y == 0;
    }

    function isInfinity(G2Point memory p) internal pure returns (bool) {
        return p.X[0] == 0 && p.X[1] == 0 && p.Y[0] == 0 && p.Y[1] == 0;
    }

    /// @notice Whether p is a point of G1 (infinity included) with reduced coordinates.
    function isOnCurve(G1Point memory p) internal pure returns (bool) {
        if (p.X >= P || p.Y >= P) return false;
        if (isInfinity(p)) return true;
        return mulmod(p.Y, p.Y, P) == addmod(mulmod(p.X, mulmod(p.X, p.X, P), P), 3, P);
    }

    function negate(G1Point memory p) internal pure returns (G1Point memory) {
        if (isInfinity(p)) return p;
        return G1Point(p.X, P - (p.Y % P));
    }

    function plus(G1Point memory a, G1Point memory b) internal view returns (G1Point memory r) {
        bool ok;
        assembly ("memory-safe") {
            let input := mload(0x40)
            mstore(input, mload(a))
            mstore(add(input, 0x20), mload(add(a, 0x20)))
            mstore(add(input, 0x40), mload(b))
            mstore(add(input, 0x60), mload(add(b, 0x20)))
            ok := staticcall(gas(), 0x06, input, 0x80, r, 0x40)
        }
        if (!ok) revert EcAddFailed();
    }

    /// @dev Requires s < r so that every scalar has one representation.
    function scalarMul(G1Point memory p, uint256 s) internal view returns (G1Point memory r) {
        if (s >= R) revert ScalarOutOfRange(s);
        bool ok;
        assembly ("memory-safe") {
            let input := mload(0x40)
            mstore(input, mload(p))
            mstore(add(input, 0x20), mload(add(p, 0x20)))
            mstore(add(input, 0x40), s)
            ok := staticcall(gas(), 0x07, input, 0x60, r, 0x40)
        }
        if (!ok) revert EcMulFailed();
    }

    /// @notice e(a1, a2) * e(b1, b2) == 1.
    function pairing(G1Point memory a1, G2Point memory a2, G1Point memory b1, G2Point memory b2)
        internal
        view
        returns (bool result)
    {
        uint256[12] memory input = [
            a1.X, a1.Y, a2.X[0], a2.X[1], a2.Y[0], a2.Y[1],
            b1.X, b1.Y, b2.X[0], b2.X[1], b2.Y[0], b2.Y[1]
        ];
        uint256[1] memory out;
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x08, input, 0x180, out, 0x20)
        }
        if (!ok) revert PairingFailed();
        return out[0] == 1;
    }

    /// @notice Try-and-increment: x = digest mod p; while x^3 + 3 is not a square, x += 1.
    /// @dev    Gas varies with the digest: one modexp per try, two tries on average.
    function hashToG1(bytes32 digest) internal view returns (G1Point memory) {
        uint256 x = uint256(digest) % P;
        while (true) {
            uint256 beta = addmod(mulmod(x, mulmod(x, x, P), P), 3, P);
            uint256 y = _expMod(beta, SQRT_EXPONENT);
            if (mulmod(y, y, P) == beta) return G1Point(x, y);
            x = addmod(x, 1, P);
        }
        revert(); // unreachable: the loop only exits by returning
    }

    /// @notice gamma = keccak256(H(m), apkG1, apkG2, sigma) mod r: the random scalar of the binding check.
    function gamma(G1Point memory messagePoint, G1Point memory apkG1, G2Point memory apkG2, G1Point memory sigma)
        internal
        pure
        returns (uint256)
    {
        return uint256(
            keccak256(
                abi.encodePacked(
                    messagePoint.X, messagePoint.Y, apkG1.X, apkG1.Y,
                    apkG2.X[0], apkG2.X[1], apkG2.Y[0], apkG2.Y[1], sigma.X, sigma.Y
                )
            )
        ) % R;
    }

    /// @notice The aggregate-signature check of docs/crypto.md, with one pairing call:
    ///         e(sigma + gamma*apkG1, -G2) * e(H(m) + gamma*G1, apkG2) == 1.
    /// @dev    True iff sigma is a signature on `digest` by the key whose G2 form is apkG2 and whose
    ///         G1 form is apkG1. Infinity keys or signatures are never valid. Malformed points make
    ///         a precompile fail, which reverts with its custom error.
    function verifyBound(bytes32 digest, G1Point memory apkG1, G2Point memory apkG2, G1Point memory sigma)
        internal
        view
        returns (bool)
    {
        if (isInfinity(sigma) || isInfinity(apkG1) || isInfinity(apkG2)) return false;
        G1Point memory h = hashToG1(digest);
        uint256 g = gamma(h, apkG1, apkG2, sigma);
        return pairing(
            plus(sigma, scalarMul(apkG1, g)), negGeneratorG2(), plus(h, scalarMul(generatorG1(), g)), apkG2
        );
    }

    /// @notice The plain BLS check against a G2 key: e(sigma, -G2) * e(H(m), pkG2) == 1.
    /// @dev    Sound only for a key known to be well formed and free of rogue-key tricks: a key that
    ///         passed a proof of possession, or an aggregate of such keys that was bound to the
    ///         matching G1 aggregate by `verifyBound` before.
    function verifyWithG2(bytes32 digest, G2Point memory pkG2, G1Point memory sigma) internal view returns (bool) {
        if (isInfinity(sigma) || isInfinity(pkG2)) return false;
        return pairing(sigma, negGeneratorG2(), hashToG1(digest), pkG2);
    }

    function _expMod(uint256 base, uint256 exponent) private view returns (uint256 result) {
        bool ok;
        assembly ("memory-safe") {
            let input := mload(0x40)
            mstore(input, 0x20)
            mstore(add(input, 0x20), 0x20)
            mstore(add(input, 0x40), 0x20)
            mstore(add(input, 0x60), base)
            mstore(add(input, 0x80), exponent)
            mstore(add(input, 0xa0), P)
            ok := staticcall(gas(), 0x05, input, 0xc0, input, 0x20)
            result := mload(input)
        }
        if (!ok) revert ModExpFailed();
    }
}
