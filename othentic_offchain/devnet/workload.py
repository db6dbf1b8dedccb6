"""The devnet's workload: tasks over the generic and price-oracle definitions, followed to the end.

Even tasks go to the generic performer (a text to hash), odd ones to the price-oracle performer (a
pair to quote; a share of them with ``lie_percent`` so the attesters reject them). Each is
triggered over the performer's HTTP API and followed through the aggregator's ``taskStatus``
(JSON-RPC, :class:`BlockingJsonRpcClient`) until it lands or fails; the latency is the
aggregator's own (``createdAt`` to ``finishedAt``). With several aggregators (any of them may land
a task, some may be killed) a task is followed on the chain instead, through a
:class:`~othentic_offchain.devnet.chaos.LandingWatcher`: it landed when its TaskSubmitted or
TaskRejected event is seen, and its latency runs from the trigger to then.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass

from othentic_offchain.devnet.chaos import LandingWatcher
from othentic_offchain.devnet.examples import GENERIC, PRICE_ORACLE, example_contract
from othentic_offchain.devnet.http import post_json
from othentic_offchain.devnet.network import LocalNetwork
from othentic_offchain.jsonrpc import BlockingJsonRpcClient, JsonRpcError, JsonRpcTransportError
from othentic_offchain.nodes.aggregator.config import UNKNOWN_TASK

PAIRS = ("ETH-USD", "BTC-USD", "SOL-USD")


@dataclass
class TaskRun:
    definition_id: int
    params: dict
    task_hash: str | None = None
    sent_at: float = 0.0  # monotonic clock
    triggered_at: float = 0.0  # wall clock, for landings seen on the chain
    latency: float | None = None
    status: str = "pending"
    error: str | None = None


def plan(tasks: int, lying_share: float, *, generic_only: bool = False) -> list[TaskRun]:
    """The tasks to send, alternating generic and price-oracle (or generic only); every
    ``1 / lying_share``-th price-oracle task asks its performer to lie by 5 %."""
    runs = []
    for i in range(tasks):
        if generic_only or i % 2 == 0:
            runs.append(TaskRun(GENERIC, {"text": f"devnet task {i}: the quick brown fox"}))
        else:
            params: dict = {"pair": PAIRS[i % 3]}
            if lying_share > 0 and (i // 2) % max(1, round(1 / lying_share)) == 0:
                params["lie_percent"] = 5
            runs.append(TaskRun(PRICE_ORACLE, params))
    return runs


def run_workload(
    runs: list[TaskRun],
    *,
    performer_urls: dict[int, str],
    aggregator_url: str,
    concurrency: int,
    task_timeout: float,
    progress: Callable[[str], None],
    rate: float | None = None,
    landings: LandingWatcher | None = None,
    on_finished: Callable[[int], None] = lambda done: None,
) -> list[TaskRun]:
    """Trigger every run (``concurrency`` at a time, or ``rate`` per second however many are
    open) and follow each until it lands or fails: through ``aggregator_url``, or on the chain
    through ``landings`` when given. ``on_finished`` is called with the number of runs finished
    so far, after each."""
    if rate is None:
        progress(f"sending {len(runs)} tasks ({concurrency} at a time)")
    else:
        progress(f"sending {len(runs)} tasks, {rate:g} per second")
        concurrency = max(1, len(runs))  # a thread per task: each waits for its slot, then follows its task
    begin = time.monotonic() + 0.5
    slots = {id(run): begin + index / rate for index, run in enumerate(runs)} if rate else {}

    def trigger(run: TaskRun) -> TaskRun:
        slot = slots.get(id(run))
        if slot is not None:
            time.sleep(max(0.0, slot - time.monotonic()))
        run.sent_at, run.triggered_at = time.monotonic(), time.time()
        url = f"{performer_urls[run.definition_id]}/performer/v1/trigger"
        status, body = post_json(url, {"params": run.params})
        if status not in (200, 202):  # 202: queued in the performer's outbox, sent when an aggregator takes it
            run.status, run.error = "failed", f"trigger answered {status}: {body.get('message', body)}"
            return run
        run.task_hash = body.get("taskHash")
        if landings is not None:
            return follow_on_chain(run, landings, task_timeout)
        return follow(run, aggregator_url, task_timeout)

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        done = 0
        for _ in concurrent.futures.as_completed([pool.submit(trigger, run) for run in runs]):
            done += 1
            progress(f"tasks: {done}/{len(runs)} finished")
            on_finished(done)
    return runs


def follow_on_chain(run: TaskRun, landings: LandingWatcher, task_timeout: float) -> TaskRun:
    """Wait until the run's task lands (its event seen by ``landings``) or ``task_timeout`` passed."""
    deadline = run.sent_at + task_timeout
    digest = bytes.fromhex((run.task_hash or "").removeprefix("0x"))
    while time.monotonic() < deadline:
        seen = landings.first_seen.get(digest)
        if seen is not None:
            run.status, run.latency = "landed", max(0.0, seen - run.triggered_at)
            return run
        time.sleep(0.05)
    run.status, run.error = "failed", "timed out: no TaskSubmitted or TaskRejected event on the chain"
    return run


def follow(run: TaskRun, aggregator_url: str, task_timeout: float) -> TaskRun:
    """Ask the aggregator about the run's task until it landed or failed, or ``task_timeout`` passed.
    A task the aggregator does not know yet (the performer's outbox still holds it) and an
    aggregator that does not answer (restarting) are asked again."""
    aggregator = BlockingJsonRpcClient(aggregator_url, timeout=60.0)
    deadline = run.sent_at + task_timeout
    last_error = "timed out"
    while time.monotonic() < deadline:
        try:
            status = aggregator.call("taskStatus", [run.task_hash])
        except JsonRpcTransportError as exc:
            last_error = f"timed out; last taskStatus: {exc}"
            time.sleep(0.2)
            continue
        except JsonRpcError as exc:
            if exc.code != UNKNOWN_TASK:
                run.status, run.error = "failed", f"taskStatus: {exc}"
                return run
            last_error = f"timed out; last taskStatus: {exc}"
            time.sleep(0.05)
            continue
        if status.get("status") in ("landed", "failed"):
            run.status = status["status"]
            run.error = status.get("error")
            # The aggregator's own clock: from sendTask accepted to the receipt.
            if status.get("finishedAt") and status.get("createdAt"):
                run.latency = float(status["finishedAt"]) - float(status["createdAt"])
            return run
        time.sleep(0.05)
    run.status, run.error = "failed", last_error
    return run


def wait_for_beacon(net: LocalNetwork, progress: Callable[[str], None], rounds: int = 3, timeout: float = 30.0) -> int:
    """Let the beacon (every few blocks, elected operator) land a few rounds; the rounds landed."""
    beacon = example_contract(net, "RandomnessBeaconLogic")
    deadline = time.monotonic() + timeout
    while True:
        done = int(beacon.functions.contributions().call())
        progress(f"randomness beacon: {done}/{rounds} rounds landed")
        if done >= rounds or time.monotonic() > deadline:
            return done
        time.sleep(0.5)
