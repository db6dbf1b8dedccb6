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
from othentic_offchain.devnet.network import LocalNetwork, Operator
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
    aggregators: AggregatorReport | None = None  # with several aggregators: who landed what


@dataclass
class AggregatorRow:
    """One aggregator of the schedule, as the chain tells its run."""

    operator_id: int
    account: str
    endpoint: str
    status: str  # "running", or when it was killed
    landed: int = 0  # tasks it landed (TaskSubmitted and TaskRejected events it sent)
    credited: int = 0  # aggregator rewards credited to it (landed minus forfeited)
    forfeited: int = 0  # landings off its turn: AggregatorRewardForfeited events
    forfeited_amount: int = 0
    reverted: int = 0  # its transactions to the center that reverted (late duplicates)
    reverted_gas: int = 0


@dataclass
class AggregatorReport:
    turn_seconds: int
    grace_seconds: int
    rows: list[AggregatorRow]
    others: dict[str, int]  # landings by accounts off the list (last-resort submitters): account -> tasks
    landings: int  # TaskSubmitted and TaskRejected events of the run
    to_block: int  # the last block read (the network goes on landing beacon rounds)
    landed_twice: list[str]  # task hashes with more than one landing event (the contract forbids it)
    not_landed: list[str]  # hashes of the workload's accepted tasks with no landing event

    @property
    def exactly_once(self) -> bool:
        return not self.landed_twice and not self.not_landed


def _task_logs(net: LocalNetwork, name: str, to_block: int | str = "latest") -> list:
    assert net.avs is not None and net.record is not None
    event = getattr(net.avs.center.events, name)()
    return list(event.get_logs(from_block=net.record.block_number, to_block=to_block))


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


def aggregator_report(
    net: LocalNetwork, aggregators: list[tuple[Operator, str, str]], runs: list[TaskRun]
) -> AggregatorReport:
    """Who landed what, from the chain: per aggregator ``(operator, endpoint, status)``, the tasks
    it landed, the aggregator rewards credited to it and forfeited (off its turn), its reverted
    transactions; the landings by anyone else; every landing event counted per task hash.

    Credited rewards are the definitions' aggregator rewards of its landings less what it forfeited
    (the devnet sets no fee calculator)."""
    assert net.avs is not None and net.record is not None
    avs = net.avs
    head = int(net.w3.eth.block_number)
    schedule = avs.center.functions.aggregatorConfig().call(block_identifier=head)
    rows = {op.account.lower(): AggregatorRow(op.id, op.account, url, status) for op, url, status in aggregators}
    rewards: dict[int, int] = {}
    per_task: dict[str, int] = {}
    others: dict[str, int] = {}
    landings = 0
    for name in ("TaskSubmitted", "TaskRejected"):
        for log in _task_logs(net, name, head):
            args = log["args"]
            landings += 1
            task_hash = "0x" + bytes(args["taskHash"]).hex()
            per_task[task_hash] = per_task.get(task_hash, 0) + 1
            definition = int(args["taskDefinitionId"])
            if definition not in rewards:
                rewards[definition] = avs.definition(definition)[1].aggregator_reward
            row = rows.get(str(args["aggregator"]).lower())
            if row is None:
                others[args["aggregator"]] = others.get(args["aggregator"], 0) + 1
                continue
            row.landed += 1
            row.credited += rewards[definition]
    for log in _task_logs(net, "AggregatorRewardForfeited", head):
        row = rows.get(str(log["args"]["aggregator"]).lower())
        if row is not None:
            row.forfeited += 1
            row.forfeited_amount += int(log["args"]["amount"])
            row.credited -= int(log["args"]["amount"])
    center = avs.center.address.lower()
    for number in range(net.record.block_number, head + 1):
        for tx in net.w3.eth.get_block(number, full_transactions=True)["transactions"]:
            row = rows.get(str(tx["from"]).lower())
            if row is None or str(tx.get("to") or "").lower() != center:
                continue
            receipt = net.w3.eth.get_transaction_receipt(tx["hash"])
            if receipt["status"] == 0:
                row.reverted += 1
                row.reverted_gas += int(receipt["gasUsed"])
    accepted = {r.task_hash.lower() for r in runs if r.task_hash}
    return AggregatorReport(
        turn_seconds=int(schedule[2]),
        grace_seconds=int(schedule[3]),
        rows=list(rows.values()),
        others=others,
        landings=landings,
        to_block=head,
        landed_twice=sorted(h for h, count in per_task.items() if count > 1),
        not_landed=sorted(h for h in accepted if h not in per_task),
    )
