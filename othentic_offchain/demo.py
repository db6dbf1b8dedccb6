"""The BLS round trip behind ``othentic demo``: keys, votes, aggregation, on-chain verification.

Kept apart from the CLI so tests and other tools can run it and read a structured result.
The BLSVerifier contract stands in for the attestation center: the vote hash is bound to its
address and to the chain id, as the real attestation center's votes will be.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TypedDict

from othentic_offchain.chain.artifacts import Deployment, deploy, load_artifact
from othentic_offchain.crypto import (
    KeyPair,
    PrecompileBackend,
    aggregate_public_keys,
    aggregate_signatures,
    verify_aggregate,
    vote_hash,
)
from othentic_offchain.devnet.anvil import DEV_ACCOUNTS, DEV_PRIVATE_KEYS, Anvil


class SampleTask(TypedDict):
    """Othentic's TaskInfo fields, in the contract's order."""

    proof_of_task: str
    data: bytes
    performer: str
    task_definition_id: int


#: A sample task, as a performer would send it (Othentic's TaskInfo fields).
SAMPLE_TASK: SampleTask = {
    "proof_of_task": "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
    "data": b'{"pair":"ETH/USDT","price":"3150.42"}',
    "performer": DEV_ACCOUNTS[1],
    "task_definition_id": 0,
}


def operator_seed(index: int) -> bytes:
    return b"othentic-demo-operator-%03d" % index


@dataclass
class Check:
    name: str
    expected: bool
    contract: bool | None = None
    precompile: bool | None = None

    @property
    def ok(self) -> bool:
        return self.contract is self.expected and self.precompile is self.expected


@dataclass
class DemoResult:
    rpc_url: str
    chain_id: int
    hardfork: str
    verifier: str
    deploy_gas: int
    operators: int
    signers: int
    vote_hash: bytes
    vote_hash_matches_contract: bool
    verify_gas: int
    checks: list[Check] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.vote_hash_matches_contract and all(check.ok for check in self.checks)


class _Timer:
    def __init__(self, timings: dict[str, float], name: str):
        self.timings, self.name = timings, name

    def __enter__(self):
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        self.timings[self.name] = (time.perf_counter() - self.start) * 1000


def run_demo(operators: int = 10, signers: int = 7, anvil: Anvil | None = None) -> DemoResult:
    """Run the round trip on ``anvil`` (or on a fresh anvil started and stopped here)."""
    if not 1 <= signers <= operators:
        raise ValueError(f"need 1 <= signers <= operators, got {signers} of {operators}")
    if anvil is None:
        with Anvil() as node:
            return run_demo(operators, signers, node)

    timings: dict[str, float] = {}
    w3 = anvil.web3()
    with _Timer(timings, "deploy BLSVerifier"):
        verifier: Deployment = deploy(w3, load_artifact("BLSVerifier"), DEV_PRIVATE_KEYS[0])
    contract = verifier.contract
    chain_id = w3.eth.chain_id

    task = SAMPLE_TASK
    task_tuple = (task["proof_of_task"], task["data"], task["performer"], task["task_definition_id"])

    def digest(approve: bool) -> bytes:
        return vote_hash(*task_tuple, verifier.address, chain_id, approve)

    approve_hash = digest(True)
    on_chain_hash = contract.functions.voteHash(task_tuple, verifier.address, chain_id, True).call()

    with _Timer(timings, f"keygen x{operators}"):
        keys = [KeyPair.from_seed(operator_seed(i)) for i in range(operators)]
    voters = keys[:signers]
    with _Timer(timings, f"sign x{signers}"):
        votes = [keypair.sign(approve_hash) for keypair in voters]
    with _Timer(timings, "aggregate"):
        signature = aggregate_signatures(votes)
        apk = aggregate_public_keys(keypair.public for keypair in voters)

    precompile = PrecompileBackend(w3)

    def on_contract(message: bytes, key, sig) -> bool:
        return bool(contract.functions.verifyAggregate(message, key.g1.words(), key.g2.solidity(), sig.words()).call())

    def on_precompile(message: bytes, key, sig) -> bool:
        return verify_aggregate(key.g1, key.g2, message, sig, backend=precompile)

    checks = [Check(f"aggregate of {signers}/{operators} votes", True)]
    with _Timer(timings, "verify: contract eth_call"):
        checks[0].contract = on_contract(approve_hash, apk, signature)
    with _Timer(timings, "verify: pairing precompile"):
        checks[0].precompile = on_precompile(approve_hash, apk, signature)

    tampered = Check("tampered message (reject side)", False)
    tampered.contract = on_contract(digest(False), apk, signature)
    tampered.precompile = on_precompile(digest(False), apk, signature)
    checks.append(tampered)

    if signers < operators:  # a key set that includes an operator who did not sign
        wrong_keys = aggregate_public_keys(keypair.public for keypair in keys[: signers + 1])
        wrong = Check("key set with a non-signer", False)
        wrong.contract = on_contract(approve_hash, wrong_keys, signature)
        wrong.precompile = on_precompile(approve_hash, wrong_keys, signature)
        checks.append(wrong)

    verify_gas = contract.functions.verifyAggregate(
        approve_hash, apk.g1.words(), apk.g2.solidity(), signature.words()
    ).estimate_gas({"from": DEV_ACCOUNTS[0]})

    return DemoResult(
        rpc_url=anvil.rpc_url,
        chain_id=chain_id,
        hardfork=anvil.hardfork,
        verifier=verifier.address,
        deploy_gas=verifier.gas_used,
        operators=operators,
        signers=signers,
        vote_hash=approve_hash,
        vote_hash_matches_contract=bytes(on_chain_hash) == approve_hash,
        verify_gas=verify_gas,
        checks=checks,
        timings_ms=timings,
    )
