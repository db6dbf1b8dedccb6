#!/usr/bin/env python
"""Whole-transaction gas of the contracts, next to the Othentic and EigenLayer figures.

    python bench/gas.py                      # rich tables (plain text when piped)
    python bench/gas.py --markdown           # Markdown, as pasted in README.md
    python bench/gas.py --operators 1,5,10 --non-signers 1,5

Starts its own anvil (free port, hardfork prague) and deploys the whole network with the deploy
plan of `ape run deploy` (both through the package's `LocalNetwork`), registers operators one by
one (equal stakes) and measures:

* `submitTask` with every operator signing, at 1, 5, 10, 20, 50 and 100 active operators: the first
  submission after the operator set changed (it proves the aggregate G2 key and caches its hash)
  and a later one (the steady state);
* `submitTask` at 100 operators with 1, 5, 10 and 30 non-signers;
* registration, stake changes, withdrawal, leaving, key rotation, claims, definition creation.

Gas is deterministic for given inputs; the hash to G1 takes one modexp per try, so a submission
varies by about 1,760 gas with the message. Each row is the median over a few different tasks.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from eth_account import Account
from eth_utils import keccak
from rich.console import Console
from rich.table import Table

from othentic_offchain.chain.client import AvsContracts, fund_eth
from othentic_offchain.chain.deploy import TOKEN
from othentic_offchain.chain.types import (
    PenaltyConfig,
    RegistryConfig,
    TaskDefinitionParams,
    TaskInfo,
    build_submission,
)
from othentic_offchain.crypto import KeyPair
from othentic_offchain.devnet.network import LocalNetwork, operator_keys
from othentic_offchain.devnet.tokens import mintable

STAKE = 10 * TOKEN
# Othentic's 2024 contracts, later submissions (docs/comparison.md); beyond 20 attesters, its fit.
OTHENTIC_MEASURED = {1: 274_770, 3: 327_052, 5: 379_345, 10: 510_143, 20: 772_056}
EIGENLAYER_BASE = 159_908
EIGENLAYER_PER_NON_SIGNER = 18_750
GOAL_SUBMISSION = 200_000
GOAL_PER_NON_SIGNER = 8_000


def othentic(n: int) -> tuple[int, str]:
    if n in OTHENTIC_MEASURED:
        return OTHENTIC_MEASURED[n], "measured"
    return 245_000 + 26_000 * n, "fit"


#: Definition 0 of the measured deployment: no penalties configured.
DEFINITION_0 = TaskDefinitionParams(
    name="generic",
    attester_reward=TOKEN // 100,
    performer_reward=TOKEN // 50,
    aggregator_reward=TOKEN // 100,
    dispute_period_blocks=50,
    penalties=PenaltyConfig(),
)


class Bench:
    """The deployed system (a :class:`LocalNetwork`'s chain) and operators registered one at a time,
    so that each registration's gas is measured."""

    def __init__(self, net: LocalNetwork, max_operators: int):
        assert net.avs is not None and net.admin is not None
        self.w3 = net.w3
        self.avs: AvsContracts = net.avs
        self.admin = net.admin
        self.keys = operator_keys("othentic gas bench operator", max_operators)
        fund_eth(self.w3, [Account.from_key(k).address for k in self.keys], 1000 * TOKEN)
        self.bls: list[KeyPair] = []
        self.senders = []
        self.ids: list[int] = []
        self.tasks = 0

    def prepare(self, count: int) -> None:
        """BLS keys and stake tokens for `count` operators (not registered yet)."""
        for i in range(len(self.bls), count):
            self.bls.append(KeyPair.from_seed(b"othentic gas bench bls key %04d" % i))
            sender = self.avs.sender(self.keys[i])
            self.senders.append(sender)
            self.admin.send(mintable(self.avs.stake_token).functions.mint(sender.address, 100 * STAKE))

    def register_up_to(self, count: int) -> list[int]:
        gas = []
        self.prepare(count)
        while len(self.ids) < count:
            i = len(self.ids)
            receipt = self.avs.register_operator(self.senders[i], self.bls[i], STAKE)
            gas.append(int(receipt["gasUsed"]))
            self.ids.append(self.avs.operator_id(self.senders[i].address))
        return gas

    def submit(self, non_signers: int = 0) -> int:
        self.tasks += 1
        performer = self.senders[0]
        task = TaskInfo(
            f"bafkreigasbench{self.tasks:06d}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            keccak(text=f"result {self.tasks}"),
            performer.address,
            0,
        )
        members = self.ids
        missing = set(members[len(members) - non_signers :]) if non_signers else set()
        signers = {op: self.bls[i] for i, op in enumerate(members) if op not in missing}
        submission = build_submission(
            task,
            is_approved=True,
            tp_signature=task.sign(self.keys[0], self.avs.address, self.avs.chain_id),
            attestation_center=self.avs.address,
            chain_id=self.avs.chain_id,
            members=members,
            signers=signers,
        )
        aggregator = self.senders[1] if len(self.senders) > 1 else self.senders[0]
        receipt = self.avs.submit_task(aggregator, task, submission)
        return int(receipt["gasUsed"])


def median(values: list[int]) -> int:
    return int(statistics.median(values))


def run(operator_counts: list[int], non_signer_counts: list[int], samples: int):
    max_operators = max(operator_counts + ([100] if non_signer_counts else []))
    results = {"submit": [], "non_signers": [], "ops": []}
    with LocalNetwork() as net:
        net.start_chain(registry=RegistryConfig(TOKEN, max(100, max_operators), 100), definition0=DEFINITION_0)
        bench = Bench(net, max_operators)
        registration = []
        for n in sorted(operator_counts):
            registration += bench.register_up_to(n)
            first = bench.submit()
            later = median([bench.submit() for _ in range(samples)])
            results["submit"].append((n, first, later))
        if non_signer_counts:
            registration += bench.register_up_to(100)
            base = median([bench.submit() for _ in range(samples)])
            results["non_signer_base"] = base
            for k in sorted(non_signer_counts):
                gas = median([bench.submit(k) for _ in range(samples)])
                results["non_signers"].append((k, gas))
        results["ops"] = other_operations(bench, registration)
        assert net.anvil is not None
        results["anvil"] = net.anvil.rpc("web3_clientVersion")
    return results


def other_operations(bench: Bench, registration: list[int]) -> list[tuple[str, int, str]]:
    avs, w3 = bench.avs, bench.w3
    rows = [
        ("registerOperator (first operator)", registration[0], "PoP check, keys, set 0"),
        ("registerOperator (typical)", median(registration[1:] or registration), ""),
    ]
    sender = bench.senders[2 if len(bench.senders) > 2 else 0]
    sender.send(avs.stake_token.functions.approve(avs.address, TOKEN))
    receipt = sender.send(avs.center.functions.increaseStake(TOKEN))
    rows.append(("increaseStake", int(receipt["gasUsed"]), "plus the ERC-20 approve"))
    receipt = sender.send(avs.center.functions.requestWithdrawal(TOKEN))
    rows.append(("requestWithdrawal", int(receipt["gasUsed"]), ""))
    receipt = sender.send(avs.center.functions.setOperatorEndpoint("http://10.0.0.7:9000"))
    rows.append(("setOperatorEndpoint", int(receipt["gasUsed"]), ""))
    fresh = KeyPair.from_seed(b"othentic gas bench rotated key")
    proof = fresh.proof_of_possession(sender.address, avs.address, avs.chain_id)
    receipt = sender.send(
        avs.center.functions.updateBlsKey(fresh.public.g1.words(), fresh.public.g2.solidity(), proof.words())
    )
    rows.append(("updateBlsKey", int(receipt["gasUsed"]), f"with {len(bench.ids)} operators"))
    bench.admin.send(mintable(avs.reward_token).functions.mint(bench.admin.address, 1000 * TOKEN))
    bench.admin.send(avs.reward_token.functions.approve(avs.vault.address, 1000 * TOKEN))
    receipt = bench.admin.send(avs.vault.functions.fund(1000 * TOKEN))
    rows.append(("RewardsVault.fund", int(receipt["gasUsed"]), ""))
    claimable = avs.claimable(sender.address)
    receipt = sender.send(avs.center.functions.claimRewards(sender.address, claimable))
    rows.append(("claimRewards", int(receipt["gasUsed"]), "one operator set"))
    restricted = TaskDefinitionParams(
        name="restricted", attester_reward=TOKEN // 100, restricted_attester_ids=tuple(bench.ids[:10])
    )
    receipt = bench.admin.send(avs.center.functions.createTaskDefinition(restricted.abi()))
    rows.append(("createTaskDefinition (10 listed attesters)", int(receipt["gasUsed"]), "builds its operator set"))
    receipt = sender.send(avs.center.functions.leave())
    rows.append(("leave", int(receipt["gasUsed"]), "in set 0 and one restricted set"))
    w3.provider.make_request("anvil_mine", [hex(101)])
    receipt = sender.send(avs.center.functions.withdraw(sender.address))
    rows.append(("withdraw", int(receipt["gasUsed"]), "after the unbonding delay"))
    return rows


def render(results, markdown: bool, console: Console) -> None:
    submit = Table(title="submitTask, every operator signing (whole transaction gas)", title_justify="left")
    for col in ("operators", "first after a set change", "steady state", "goal", "Othentic", "Othentic / ours"):
        submit.add_column(col, justify="right")
    for n, first, later in results["submit"]:
        ref, kind = othentic(n)
        submit.add_row(
            str(n), f"{first:,}", f"{later:,}", f"{GOAL_SUBMISSION:,}", f"{ref:,} ({kind})", f"{ref / later:.1f}x"
        )
    tables = [submit]
    if results["non_signers"]:
        base = results["non_signer_base"]
        ns = Table(title="submitTask at 100 operators with non-signers", title_justify="left")
        for col in (
            "non-signers",
            "gas",
            "more than none",
            "per non-signer",
            "each one after the first",
            "goal per non-signer",
            "EigenLayer checkSignatures",
        ):
            ns.add_column(col, justify="right")
        ns.add_row("0", f"{base:,}", "-", "-", "-", "-", f"{EIGENLAYER_BASE:,}")
        first = dict(results["non_signers"]).get(1)
        for k, gas in results["non_signers"]:
            extra = gas - base
            # The first non-signer also switches from the cached G2 key to the bound check (once).
            marginal = f"{(gas - first) / (k - 1):,.0f}" if first is not None and k > 1 else "-"
            ns.add_row(
                str(k),
                f"{gas:,}",
                f"{extra:,}",
                f"{extra / k:,.0f}",
                marginal,
                f"{GOAL_PER_NON_SIGNER:,}",
                f"{EIGENLAYER_BASE + EIGENLAYER_PER_NON_SIGNER * k:,}",
            )
        tables.append(ns)
    ops = Table(title="Other operations (whole transaction gas)", title_justify="left")
    ops.add_column("operation")
    ops.add_column("gas", justify="right")
    ops.add_column("note")
    for name, gas, note in results["ops"]:
        ops.add_row(name, f"{gas:,}", note)
    tables.append(ops)
    stamp = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {results['anvil']}, hardfork prague; "
        "solc 0.8.37, optimizer 10,000 runs."
    )
    if markdown:
        for table in tables:
            console.print(f"\n**{table.title}**\n")
            headers = [c.header for c in table.columns]
            console.print("| " + " | ".join(headers) + " |")
            console.print("|" + "|".join("---:" if c.justify == "right" else "---" for c in table.columns) + "|")
            for row in zip(*(c._cells for c in table.columns)):
                console.print("| " + " | ".join(row) + " |")
        console.print(f"\n{stamp}")
    else:
        for table in tables:
            console.print(table)
        console.print(stamp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operators", default="1,5,10,20,50,100", help="active operator counts to measure")
    parser.add_argument("--non-signers", default="1,5,10,30", help="non-signer counts at 100 operators ('' for none)")
    parser.add_argument("--samples", type=int, default=3, help="submissions per row (the median is shown)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = parser.parse_args()
    counts = [int(x) for x in args.operators.split(",") if x]
    non_signers = [int(x) for x in args.non_signers.split(",") if x]
    console = Console(highlight=False, width=160)
    start = time.perf_counter()
    results = run(counts, non_signers, args.samples)
    render(results, args.markdown, console)
    console.print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
