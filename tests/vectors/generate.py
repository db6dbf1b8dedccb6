"""Generate ``tests/vectors/bls_vectors.json``: BLS-on-BN254 and protocol-hash test vectors.

Deterministic: fixed seeds, fixed messages, fixed addresses, no randomness. The vectors hold the
Python implementation (``othentic_offchain.crypto``) and the Solidity one (``contracts/libraries``)
to the same values; ``tests/offchain/test_vectors.py`` checks that this script reproduces the file
byte for byte, so any change of an encoding shows up as a diff of the JSON.

    python tests/vectors/generate.py           # rewrite the file
    python tests/vectors/generate.py --check   # exit 1 if the file is stale

Encodings (see ``encoding`` in the file): every field element, scalar and digest is a 0x-prefixed,
zero-padded 32-byte hex string; G1 = ``[x, y]``; G2 = ``[x_imag, x_real, y_imag, y_real]`` (the
EIP-197 precompile order, also the Solidity ``G2Point {X: [x_imag, x_real], Y: [y_imag, y_real]}``);
the point at infinity has all-zero coordinates. The secret keys are public test values: never use
them for anything else.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eth_utils import keccak, to_checksum_address
from py_ecc import optimized_bn128 as ec
from py_ecc.fields import optimized_bn128_FQ2 as FQ2

from othentic_offchain.crypto import (
    G1Point,
    G2Point,
    KeyPair,
    aggregate_g1,
    aggregate_g2,
    aggregate_signatures,
    gamma,
    hash_to_g1,
    pop_hash,
    task_hash,
    vote_hash,
)
from othentic_offchain.crypto.bn254 import P, R
from othentic_offchain.crypto.hashes import encode_task, encode_vote

VERSION = 1
OUTPUT = Path(__file__).with_name("bls_vectors.json")

#: Key seeds (SecretKey.from_seed needs at least 16 bytes).
SEEDS = [
    bytes(range(32)),
    bytes.fromhex("a5" * 32),
    b"othentic-py test vector key #2.",
    bytes.fromhex("0123456789abcdeffedcba98765432100123456789abcdeffedcba9876543210"),
]

#: Digests: three ordinary ones, then edge cases of the reduction mod p inside hash_to_g1.
DIGESTS = [
    keccak(b"othentic-py/bls-vectors/message/0"),
    keccak(b"othentic-py/bls-vectors/message/1"),
    keccak(b"othentic-py/bls-vectors/message/2"),
    keccak(b"othentic-py/bls-vectors/many-increments/8"),  # the first n whose digest needs >= 5 increments (6)
    bytes(32),  # x = 0: 0^3 + 3 is not a square, so one increment
    b"\xff" * 32,  # >= p: reduced mod p before the search
    P.to_bytes(32, "big"),  # exactly p: reduces to 0 like the zero digest
]

#: (signers, message index) of the aggregate vectors.
AGGREGATES = [([0, 1, 2, 3], 0), ([0, 2], 1), ([1, 3], 3), ([3], 5)]

PERFORMER_A = to_checksum_address("0x" + "11" * 20)
PERFORMER_B = to_checksum_address("0x70997970c51812dc3a010c7d01b50e0d17dc79c8")
ZERO_ADDRESS = to_checksum_address("0x" + "00" * 20)
ATTESTATION_CENTER = to_checksum_address("0x5fbdb2315678afecb367f032d93f642f64180aa3")
REGISTRY = to_checksum_address("0xe7f1725e7734ce288f8367e1bb143e90bb3f0512")
OTHER_REGISTRY = to_checksum_address("0x" + "ee" * 20)
ANVIL_CHAIN_ID = 31337

#: (proofOfTask, data, performer, taskDefinitionId)
TASKS = [
    ("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", bytes.fromhex("01020304"), PERFORMER_A, 1),
    ("", b"", ZERO_ADDRESS, 0),
    ("proof \u2713 \u00fcn\u00efc\u00f6de", bytes(range(100)), PERFORMER_B, 65535),
    ("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi" * 2, keccak(b"result"), PERFORMER_A, 7),
]

#: (task index, attestationCenter, chainId, isApproved)
VOTES = [
    (0, ATTESTATION_CENTER, ANVIL_CHAIN_ID, True),
    (0, ATTESTATION_CENTER, ANVIL_CHAIN_ID, False),
    (0, ATTESTATION_CENTER, 1, True),
    (1, ZERO_ADDRESS, 0, False),
    (2, ATTESTATION_CENTER, 17000, True),
    (3, PERFORMER_B, 2**256 - 1, True),
]

#: (key index, operator, registry, chainId)
POPS = [
    (0, to_checksum_address("0x" + "01" * 20), REGISTRY, ANVIL_CHAIN_ID),
    (1, to_checksum_address("0x" + "02" * 20), REGISTRY, ANVIL_CHAIN_ID),
    (2, to_checksum_address("0x" + "03" * 20), REGISTRY, ANVIL_CHAIN_ID),
    (3, to_checksum_address("0x" + "04" * 20), REGISTRY, ANVIL_CHAIN_ID),
    (0, to_checksum_address("0x" + "01" * 20), REGISTRY, 1),
    (1, to_checksum_address("0x" + "02" * 20), OTHER_REGISTRY, ANVIL_CHAIN_ID),
]


def word(value: int) -> str:
    return "0x%064x" % value


def g1_words(point: G1Point) -> list[str]:
    return [word(w) for w in point.words()]


def g2_words(point: G2Point) -> list[str]:
    return [word(w) for w in point.words()]


def increments(digest: bytes, point: G1Point) -> int:
    """How many times try-and-increment moved x (hash-to-G1 gas grows with it)."""
    return (point.x - int.from_bytes(digest, "big") % P) % P


def _fq2_sqrt(a: FQ2) -> FQ2 | None:
    """A square root in F_p^2 for p = 3 mod 4 (Adj and Rodriguez-Henriquez, algorithm 9), or None."""
    a1 = a ** ((P - 3) // 4)
    alpha = a1 * a1 * a
    x0 = a1 * a
    if alpha == -FQ2.one():
        root = FQ2([0, 1]) * x0
    else:
        root = (FQ2.one() + alpha) ** ((P - 1) // 2) * x0
    return root if root * root == a else None


def twist_point_outside_subgroup() -> G2Point:
    """The first point (x = k + i, k = 0, 1, ...) of the twist that is not in the order-r subgroup."""
    k = 0
    while True:
        x = FQ2([k, 1])
        y = _fq2_sqrt(x**3 + ec.b2)
        if y is not None:
            point = (x, y, FQ2.one())
            assert ec.is_on_curve(point, ec.b2)
            if not ec.is_inf(ec.multiply(point, R)):
                return G2Point.from_ecc(point)
        k += 1


def swapped(point: G2Point) -> G2Point:
    """The same numbers in py_ecc's (real, imag) order where (imag, real) belongs: off the twist."""
    return G2Point(x_real=point.x_imag, x_imag=point.x_real, y_real=point.y_imag, y_imag=point.y_real)


def build() -> dict:
    keys = [KeyPair.from_seed(seed) for seed in SEEDS]
    points = [hash_to_g1(d) for d in DIGESTS]
    sigs = {(k, m): keys[k].sign(DIGESTS[m]) for k in range(len(keys)) for m in range(len(DIGESTS))}

    out: dict = {
        "version": VERSION,
        "description": "BLS on BN254 (signatures in G1, keys in G2 and G1) and protocol hashes, "
        "shared by othentic_offchain.crypto and contracts/libraries. Generated by "
        "tests/vectors/generate.py: do not edit by hand. Secret keys are public test values.",
        "encoding": {
            "integers": "0x-prefixed 32-byte big-endian hex (field elements, scalars, digests)",
            "g1": "[x, y]",
            "g2": "[x_imag, x_real, y_imag, y_real] (EIP-197 precompile order)",
            "infinity": "all coordinates zero",
            "numbers": "chain_id and task_definition_id are JSON numbers; one chain_id is 2^256 - 1 "
            "(parse with big-integer support)",
            "addresses": "EIP-55 checksummed hex; data and encodings: 0x-prefixed hex of any length",
            "hash_to_g1": "try-and-increment: x = digest mod p; while x^3 + 3 is not a square: x += 1; "
            "y = (x^3 + 3)^((p+1)/4) mod p (not normalised)",
            "gamma": "keccak256(H(m).x, H(m).y, apkG1.x, apkG1.y, apkG2 (precompile order), sigma.x, sigma.y) mod r",
            "verification": "e(sigma + gamma*apkG1, -G2) * e(H(m) + gamma*G1, apkG2) == 1",
        },
        "curve": {"p": word(P), "r": word(R)},
    }

    out["keys"] = [
        {
            "seed": "0x" + seed.hex(),
            "secret": word(kp.secret.scalar),
            "pk_g1": g1_words(kp.public.g1),
            "pk_g2": g2_words(kp.public.g2),
        }
        for seed, kp in zip(SEEDS, keys)
    ]
    out["messages"] = [
        {"digest": "0x" + d.hex(), "hash_to_g1": g1_words(h), "increments": increments(d, h)}
        for d, h in zip(DIGESTS, points)
    ]
    out["signatures"] = [
        {
            "key": k,
            "message": m,
            "signature": g1_words(sig),
            "gamma": word(gamma(points[m], keys[k].public.g1, keys[k].public.g2, sig)),
        }
        for (k, m), sig in sigs.items()
    ]

    aggregates = []
    for signers, m in AGGREGATES:
        apk_g1 = aggregate_g1(keys[k].public.g1 for k in signers)
        apk_g2 = aggregate_g2(keys[k].public.g2 for k in signers)
        sigma = aggregate_signatures(sigs[(k, m)] for k in signers)
        aggregates.append(
            {
                "signers": signers,
                "message": m,
                "apk_g1": g1_words(apk_g1),
                "apk_g2": g2_words(apk_g2),
                "signature": g1_words(sigma),
                "gamma": word(gamma(points[m], apk_g1, apk_g2, sigma)),
            }
        )
    out["aggregates"] = aggregates

    out["task_hashes"] = [
        {
            "proof_of_task": pot,
            "data": "0x" + data.hex(),
            "performer": performer,
            "task_definition_id": tdid,
            "encoding": "0x" + encode_task(pot, data, performer, tdid).hex(),
            "task_hash": "0x" + task_hash(pot, data, performer, tdid).hex(),
        }
        for pot, data, performer, tdid in TASKS
    ]
    votes = []
    for t, center, chain_id, approved in VOTES:
        pot, data, performer, tdid = TASKS[t]
        args = (pot, data, performer, tdid, center, chain_id, approved)
        votes.append(
            {
                "proof_of_task": pot,
                "data": "0x" + data.hex(),
                "performer": performer,
                "task_definition_id": tdid,
                "attestation_center": center,
                "chain_id": chain_id,
                "is_approved": approved,
                "encoding": "0x" + encode_vote(*args).hex(),
                "vote_hash": "0x" + vote_hash(*args).hex(),
            }
        )
    out["vote_hashes"] = votes

    pops = []
    for k, operator, registry, chain_id in POPS:
        kp = keys[k]
        digest = pop_hash(operator, registry, chain_id, kp.public.g1, kp.public.g2)
        pops.append(
            {
                "key": k,
                "operator": operator,
                "registry": registry,
                "chain_id": chain_id,
                "pk_g1": g1_words(kp.public.g1),
                "pk_g2": g2_words(kp.public.g2),
                "pop_hash": "0x" + digest.hex(),
                "signature": g1_words(kp.proof_of_possession(operator, registry, chain_id)),
            }
        )
    out["proofs_of_possession"] = pops

    out["invalid_aggregates"] = _invalid_aggregates(keys, sigs)
    return out


def _invalid_aggregates(keys: list[KeyPair], sigs: dict) -> list[dict]:
    """Checks that must fail. ``evm`` says how the contracts fail: ``false`` (the call returns
    false) or the custom error of ``BN254`` it reverts with. Python's verify_aggregate returns False
    for all of them."""
    d0, d1 = DIGESTS[0], DIGESTS[1]
    k0, k1 = keys[0].public, keys[1].public
    s00 = sigs[(0, 0)]
    pair_g1 = aggregate_g1([k0.g1, k1.g1])
    pair_g2 = aggregate_g2([k0.g2, k1.g2])
    pair_sig = aggregate_signatures([sigs[(0, 0)], sigs[(1, 0)]])
    trio_sig = aggregate_signatures([sigs[(0, 0)], sigs[(1, 0)], sigs[(2, 0)]])
    g2_02 = aggregate_g2([k0.g2, keys[2].public.g2])
    off_curve = G1Point(1, 3)

    def case(name, digest, apk_g1, apk_g2, sigma, evm):
        return {
            "name": name,
            "digest": "0x" + digest.hex(),
            "apk_g1": g1_words(apk_g1),
            "apk_g2": g2_words(apk_g2),
            "signature": g1_words(sigma),
            "evm": evm,
        }

    return [
        case("wrong message", d1, k0.g1, k0.g2, s00, "false"),
        case("signature by another key", d0, k1.g1, k1.g2, s00, "false"),
        case("signer set larger than the keys", d0, pair_g1, pair_g2, trio_sig, "false"),
        case("signer set smaller than the keys", d0, pair_g1, pair_g2, s00, "false"),
        case("G2 aggregate of another signer set", d0, pair_g1, g2_02, pair_sig, "false"),
        case("negated signature", d0, k0.g1, k0.g2, -s00, "false"),
        case("signature is infinity", d0, k0.g1, k0.g2, G1Point.infinity(), "false"),
        case("G1 key is infinity", d0, G1Point.infinity(), k0.g2, s00, "false"),
        case("G2 key is infinity", d0, k0.g1, G2Point.infinity(), s00, "false"),
        case("signature off the curve", d0, k0.g1, k0.g2, off_curve, "EcAddFailed"),
        case("signature x >= p", d0, k0.g1, k0.g2, G1Point(s00.x + P, s00.y), "EcAddFailed"),
        case("G1 key off the curve", d0, off_curve, k0.g2, s00, "EcMulFailed"),
        case("G1 key y >= p", d0, G1Point(k0.g1.x, k0.g1.y + P), k0.g2, s00, "EcMulFailed"),
        case("G2 key with unswapped coordinates", d0, k0.g1, swapped(k0.g2), s00, "PairingFailed"),
        case(
            "G2 key x_real >= p",
            d0,
            k0.g1,
            G2Point(k0.g2.x_real + P, k0.g2.x_imag, k0.g2.y_real, k0.g2.y_imag),
            s00,
            "PairingFailed",
        ),
        case("G2 key outside the order-r subgroup", d0, k0.g1, twist_point_outside_subgroup(), s00, "PairingFailed"),
    ]


def render(vectors: dict) -> str:
    return json.dumps(vectors, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from a fresh build")
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is stale: run python {Path(__file__).as_posix()}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
