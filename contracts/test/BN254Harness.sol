// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {BN254} from "../libraries/BN254.sol";

/// @notice Test-only: exposes the BN254 library's internal functions.
contract BN254Harness {
    function plus(BN254.G1Point memory a, BN254.G1Point memory b) external view returns (BN254.G1Point memory) {
        return BN254.plus(a, b);
    }

    function scalarMul(BN254.G1Point memory p, uint256 s) external view returns (BN254.G1Point memory) {
        return BN254.scalarMul(p, s);
    }

    function negate(BN254.G1Point memory p) external pure returns (BN254.G1Point memory) {
        return BN254.negate(p);
    }

    function isOnCurve(BN254.G1Point memory p) external pure returns (bool) {
        return BN254.isOnCurve(p);
    }

    function pairing(BN254.G1Point memory a1, BN254.G2Point memory a2, BN254.G1Point memory b1, BN254.G2Point memory b2)
        external
        view
        returns (bool)
    {
        return BN254.pairing(a1, a2, b1, b2);
    }

    function hashToG1(bytes32 digest) external view returns (BN254.G1Point memory) {
        return BN254.hashToG1(digest);
    }

    function gamma(
        BN254.G1Point memory messagePoint,
        BN254.G1Point memory apkG1,
        BN254.G2Point memory apkG2,
        BN254.G1Point memory sigma
    ) external pure returns (uint256) {
        return BN254.gamma(messagePoint, apkG1, apkG2, sigma);
    }

    function verifyBound(bytes32 digest, BN254.G1Point memory apkG1, BN254.G2Point memory apkG2, BN254.G1Point memory sigma)
        external
        view
        returns (bool)
    {
        return BN254.verifyBound(digest, apkG1, apkG2, sigma);
    }
}
