#!/usr/bin/env python
"""BLS on BN254: how long each step takes in Python and on anvil, and what verification costs in gas.

    python bench/bls.py                 # rich tables (plain text when piped)
    python bench/bls.py --markdown      # Markdown tables, as pasted in README.md
    python bench/bls.py --runs 50 --slow-runs 10 --gas-messages 32

Starts its own anvil (free port, hardfork prague) and stops it at exit, deploys BLSVerifier from
the bytecode shipped in the package (othentic_offchain/chain/contracts/), and measures:

* keygen (G1 and G2 scalar multiplications), hash to G1, sign;
* aggregation of 10 and 100 signatures (G1 additions) and of 10 and 100 public keys (G2 additions);
* one aggregate verification (the bound check of docs/crypto.md, "Verification equations") three
  ways: py_ecc pairings in this process, the pairing precompile through eth_call (the Python side
  still hashes to G1 and computes the gamma terms), and BLSVerifier.verifyAggregate through
  eth_call (all on-chain);
* the gas of verifyAggregate sent as a whole transaction, over several messages: try-and-increment
  hashing needs one modexp per try, so the cost depends on the message.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from eth_account import Account
from eth_utils import keccak
from rich.console import Console
from rich.table import Table

from othentic_offchain.chain.artifacts import deploy, load_artifact
from othentic_offchain.crypto import (
    KeyPair,
    PrecompileBackend,
    PublicKey,
    PyEccBackend,
    SecretKey,
    aggregate_g2,
    aggregate_public_keys,
    aggregate_signatures,
    hash_to_g1,
    verify_aggregate,
)
from othentic_offchain.crypto.bn254 import G1_GENERATOR, G2_GENERATOR, P, R
from othentic_offchain.devnet.anvil import DEV_PRIVATE_KEYS, Anvil


def measure(fn, runs: int) -> list[float]:
    """Milliseconds per call, one warm-up call first."""
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def consecutive_keys(count: int, seed: bytes = b"othentic-bench-operator") -> list[KeyPair]:
    """``count`` valid key pairs with secrets s, s+1, ...: one scalar multiplication, then additions.

    Aggregation and verification costs do not depend on how the secrets were chosen; this only
    keeps the set-up of 100 keys from taking seconds.
    """
    first = KeyPair.from_seed(seed)
    keys = [first]
    for _ in range(count - 1):
        previous = keys[-1]
        secret = SecretKey(previous.secret.scalar % (R - 1) + 1)
        keys.append(KeyPair(secret, PublicKey(previous.public.g1 + G1_GENERATOR, previous.public.g2 + G2_GENERATOR)))
    return keys


def hash_tries(digest: bytes) -> int:
    x, tries = int.from_bytes(digest, "big") % P, 1
    while True:
        beta = (pow(x, 3, P) + 3) % P
        y = pow(beta, (P + 1) // 4, P)
        if y * y % P == beta:
            return tries
        x, tries = (x + 1) % P, tries + 1


def machine_line(anvil_version: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores ({cpu}); "
        f"Python {platform.python_version()}; {anvil_version}"
    )


def run(args) -> tuple[list[tuple[str, int, list[float]]], list[tuple[str, str, str, str]], str]:
    timing_rows: list[tuple[str, int, list[float]]] = []

    def row(name: str, fn, runs: int) -> None:
        timing_rows.append((name, runs, measure(fn, runs)))

    keys = consecutive_keys(100)
    digest = keccak(b"othentic-py bench vote")
    signatures = [keypair.sign(digest) for keypair in keys]
    g2_keys = [keypair.public.g2 for keypair in keys]
    signers = keys[:100]
    apk = aggregate_public_keys(keypair.public for keypair in signers)
    sigma = aggregate_signatures(signatures)

    seeds = iter(b"othentic-bench-keygen-%08d" % i for i in range(10**6))
    row("keygen (sk*G1, sk*G2)", lambda: KeyPair.from_seed(next(seeds)), args.runs)
    row("hash to G1", lambda: hash_to_g1(digest), args.runs)
    row("sign (hash + sk*H(m))", lambda: keys[0].sign(digest), args.runs)
    row("aggregate 10 signatures (G1)", lambda: aggregate_signatures(signatures[:10]), args.runs)
    row("aggregate 100 signatures (G1)", lambda: aggregate_signatures(signatures), args.runs)
    row("aggregate 10 public keys (G2)", lambda: aggregate_g2(g2_keys[:10]), args.runs)
    row("aggregate 100 public keys (G2)", lambda: aggregate_g2(g2_keys), args.runs)

    pyecc = PyEccBackend()
    assert verify_aggregate(apk.g1, apk.g2, digest, sigma, backend=pyecc)
    row(
        "verify, py_ecc (PyEccBackend)",
        lambda: verify_aggregate(apk.g1, apk.g2, digest, sigma, backend=pyecc),
        args.slow_runs,
    )

    artifact = load_artifact("BLSVerifier")
    with Anvil() as node:
        w3 = node.web3()
        anvil_version = node.rpc("web3_clientVersion")
        verifier = deploy(w3, artifact, DEV_PRIVATE_KEYS[0]).contract
        precompile = PrecompileBackend(w3)
        assert verify_aggregate(apk.g1, apk.g2, digest, sigma, backend=precompile)
        row(
            "verify, pairing precompile (eth_call)",
            lambda: verify_aggregate(apk.g1, apk.g2, digest, sigma, backend=precompile),
            args.runs,
        )

        def on_chain(message=digest, key=apk, signature=sigma):
            return verifier.functions.verifyAggregate(message, key.g1.words(), key.g2.solidity(), signature.words())

        assert on_chain().call() is True
        row("verify, BLSVerifier.verifyAggregate (eth_call)", lambda: on_chain().call(), args.runs)

        # Gas of the whole transaction, over several messages (hash-to-G1 tries vary).
        account = Account.from_key(DEV_PRIVATE_KEYS[0])
        estimates, used, tries = [], [], []
        signer = keys[0]
        for i in range(args.gas_messages):
            message = keccak(b"othentic-py bench gas %d" % i)
            call = on_chain(message, signer.public, signer.sign(message))
            estimates.append(call.estimate_gas({"from": account.address}))
            tx = call.build_transaction(
                {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address)}
            )
            receipt = w3.eth.wait_for_transaction_receipt(
                w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
            )
            assert receipt["status"] == 1
            used.append(receipt["gasUsed"])
            tries.append(hash_tries(message))

    n = args.gas_messages
    gas_rows = [
        (
            f"verifyAggregate tx, estimate_gas ({n} messages)",
            f"{min(estimates):,}",
            f"{max(estimates):,}",
            f"{statistics.mean(estimates):,.0f}",
        ),
        (
            f"verifyAggregate tx, gasUsed when mined ({n} messages)",
            f"{min(used):,}",
            f"{max(used):,}",
            f"{statistics.mean(used):,.0f}",
        ),
        ("hash-to-G1 tries for those messages", str(min(tries)), str(max(tries)), f"{statistics.mean(tries):.1f}"),
    ]
    return timing_rows, gas_rows, machine_line(anvil_version)


def print_rich(timing_rows, gas_rows, machine: str) -> None:
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 110)
    timings = Table(title="BLS on BN254: time per operation (ms)", title_justify="left")
    for column, justify in (
        ("operation", "left"),
        ("runs", "right"),
        ("median", "right"),
        ("mean", "right"),
        ("min", "right"),
    ):
        timings.add_column(column, justify=justify)
    for name, runs, samples in timing_rows:
        timings.add_row(
            name,
            str(runs),
            f"{statistics.median(samples):.2f}",
            f"{statistics.mean(samples):.2f}",
            f"{min(samples):.2f}",
        )
    gas = Table(title="Gas of one on-chain verification", title_justify="left")
    for column, justify in (("what", "left"), ("min", "right"), ("max", "right"), ("mean", "right")):
        gas.add_column(column, justify=justify)
    for gas_row in gas_rows:
        gas.add_row(*gas_row)
    console.print(timings)
    console.print(gas)
    console.print(machine)


def print_markdown(timing_rows, gas_rows, machine: str) -> None:
    print("| operation | runs | median ms | mean ms | min ms |")
    print("|---|---:|---:|---:|---:|")
    for name, runs, samples in timing_rows:
        print(
            f"| {name} | {runs} | {statistics.median(samples):.2f} | {statistics.mean(samples):.2f} | "
            f"{min(samples):.2f} |"
        )
    print()
    print("| gas | min | max | mean |")
    print("|---|---:|---:|---:|")
    for gas_row in gas_rows:
        print("| " + " | ".join(gas_row) + " |")
    print()
    print(f"Measured {machine}.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per fast operation (default 20)")
    parser.add_argument("--slow-runs", type=int, default=5, help="runs of the py_ecc verification (default 5)")
    parser.add_argument("--gas-messages", type=int, default=16, help="messages for the gas range (default 16)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables instead of rich tables")
    args = parser.parse_args(argv)
    if min(args.runs, args.slow_runs, args.gas_messages) < 1:
        parser.error("--runs, --slow-runs and --gas-messages must be at least 1")
    timing_rows, gas_rows, machine = run(args)
    (print_markdown if args.markdown else print_rich)(timing_rows, gas_rows, machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
