"""What a devnet run did, read back from the chain: landings, gas, votes, rewards, slashing.

:func:`report_rejected` plays the watchdog (it reports each rejected price-oracle task to the
PenaltyManager, slashing the lying performer); :func:`summarize` gathers what ``othentic devnet``
prints (``othentic_offchain/cli/devnet.py`` draws the tables).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from web3.logs import DISCARD

from othentic_offchain.chain.client import TransactionReverted
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.devnet.examples import DEFINITION_NAMES, PRICE_ORACLE, example_contract
from othentic_offchain.devnet.network import LocalNetwork
from othentic_offchain.devnet.workload import TaskRun


@dataclass
class Summary:
    rpc_url: str
    aggregator_url: str
    contracts: dict[str, str]
    per_definition: dict[int, dict[str, int]]
    gas: dict[int, list[int]]
    latencies: list[float]
    votes: dict[int, int]
    rewards: dict[int, tuple[str, int, int]]  # id -> (account, stake, claimable)
    slashed: list[tuple[int, int]]
    offline: list[int]
    failures: list[TaskRun]
    beacon_rounds: int
    latest_price: tuple[str, int] | None
    wall_seconds: float
    extra: dict = field(default_factory=dict)


def _task_logs(net: LocalNetwork, name: str) -> list:
    assert net.avs is not None and net.record is not None
    event = getattr(net.avs.center.events, name)()
    return list(event.get_logs(from_block=net.record.block_number))


def report_rejected(net: LocalNetwork, progress: Callable[[str], None]) -> list[tuple[int, int]]:
    """Report each rejected price-oracle task's performer to the PenaltyManager (slashing it);
    ``(operator id, amount slashed)`` of each punishment."""
    assert net.avs is not None and net.admin is not None
    slashed = []
    for log in _task_logs(net, "TaskRejected"):
        args = log["args"]
        if args["taskDefinitionId"] != PRICE_ORACLE:
            continue
        task = TaskInfo(args["proofOfTask"], args["data"], args["performer"], args["taskDefinitionId"])
        try:
            receipt = net.admin.send(net.avs.penalties.functions.reportRejectedTask(task.abi()))
        except TransactionReverted as exc:  # e.g. the dispute period is over: say so, carry on
            progress(f"report of task {task.task_hash().hex()[:10]} refused: {exc}")
            continue
        for event in net.avs.penalties.events.OffencePunished().process_receipt(receipt, errors=DISCARD):
            slashed.append((int(event["args"]["operatorId"]), int(event["args"]["slashed"])))
    return slashed


def summarize(
    net: LocalNetwork,
    *,
    aggregator_url: str,
    runs: list[TaskRun],
    slashed: list[tuple[int, int]],
    offline: list[int],
    started: float,
) -> Summary:
    """Tasks per definition and side, submission gas, votes per operator (signers of each landing),
    stakes and claimable rewards, the beacon's rounds and the oracle's latest ETH-USD price."""
    assert net.avs is not None and net.record is not None
    avs = net.avs
    per_definition = {d: {"approved": 0, "rejected": 0} for d in DEFINITION_NAMES}
    gas: dict[int, list[int]] = {d: [] for d in DEFINITION_NAMES}
    votes = {op.id: 0 for op in net.operators}
    members = {d: set(avs.definition_members(d)) for d in DEFINITION_NAMES}
    for name, side in (("TaskSubmitted", "approved"), ("TaskRejected", "rejected")):
        for log in _task_logs(net, name):
            definition = int(log["args"]["taskDefinitionId"])
            per_definition[definition][side] += 1
            gas[definition].append(int(net.w3.eth.get_transaction_receipt(log["transactionHash"])["gasUsed"]))
            for operator_id in members[definition] - set(log["args"]["nonSignerIds"]):
                votes[operator_id] += 1
    rewards = {op.id: (op.account, avs.operator(op.id).stake, avs.claimable(op.account)) for op in net.operators}
    latest = example_contract(net, "PriceOracleLogic").functions.latest(b"ETH-USD".ljust(32, b"\0")).call()
    beacon = example_contract(net, "RandomnessBeaconLogic")
    return Summary(
        rpc_url=net.rpc_url,
        aggregator_url=aggregator_url,
        contracts=dict(net.record.contracts),
        per_definition=per_definition,
        gas=gas,
        latencies=[r.latency for r in runs if r.status == "landed" and r.latency is not None],
        votes=votes,
        rewards=rewards,
        slashed=slashed,
        offline=offline,
        failures=[r for r in runs if r.status != "landed"],
        beacon_rounds=int(beacon.functions.contributions().call()),
        latest_price=("ETH-USD", int(latest[0])) if latest[0] else None,
        wall_seconds=time.monotonic() - started,
    )
