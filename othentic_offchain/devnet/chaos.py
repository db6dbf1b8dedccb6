"""The chaos runs: a whole network on an interval-mining anvil, a steady workload, one fault at a
time, and an account of what became of every task.

    with ChaosNetwork(state_dir) as chaos:        # anvil (a block a second), 10 operators, the nodes
        result = chaos.run("reorg", QUICK)        # workload, the fault, its end, every task settled
        print(result.row(), result.problems())    # counted from the chain, not from the nodes

The network: anvil with interval mining (``block_time``), the contracts (``deploy_system``), 10
operators with equal stakes, one ``othentic services`` process serving :mod:`.chaos_avs`, the
aggregator (``--finality``, so that a reorg shallower than that is caught), ten attesters and one
performer (definition 0, with its durable outbox), every node its own OS process. The aggregator
and the performer reach anvil through an :class:`~othentic_offchain.devnet.rpc_relay.RpcRelay`
(the RPC faults); the attesters reach it directly.

One run (:meth:`ChaosNetwork.run`): the workload triggers tasks on the performer at a steady rate
(a task is *accepted* when the performer answers its hash: sent, or kept in its outbox); after a
warm-up the fault is injected and lasts its time; once it cleared, the workload goes on a little
and stops; then every accepted task is waited for until the aggregator says it is final and its
``taskRecord`` is at least ``finality`` blocks deep. The account is read from the chain (the
blocks of the run, the center's events, the aggregator account's receipts):

* *landed* / *landed twice*: accepted tasks with one / more than one TaskSubmitted or TaskRejected
  event on the canonical chain; *lost*: accepted tasks without a ``taskRecord``;
* *final*: ``taskStatus`` says ``final`` and the record is ``finality`` blocks deep;
* *reverted*: the aggregator's transactions that reverted; *extra gas*: the gas of the
  aggregator's transactions beyond one landing submission per task (reverted submissions, gap
  fillers, submissions of a task that landed already);
* *longest to land*: from the trigger to the timestamp of the block holding the task's event.

The faults (:data:`FAULTS`), each with a quick and a full duration:

* ``basefee``: the base fee raised twenty-fold (from at least 1 gwei) before every block;
* ``drop``: every pending transaction dropped from anvil's pool, several times;
* ``pause``: mining paused (``evm_setIntervalMining 0``) while tasks keep arriving;
* ``reorg``: once a block holds a landed submission, the last ``reorg_depth`` blocks replaced by
  empty ones (``anvil_reorg``; anvil 1.7 drops their transactions, it does not put them back in
  the pool);
* ``rpc-refuse`` / ``rpc-slow``: the nodes' relay answers HTTP 503 / forwards 2 s late;
* ``kill-aggregator``: SIGKILL while a task is submitting, restarted later on the same store;
* ``kill-attester``: two attesters SIGKILLed, restarted later.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from othentic_offchain.chain.abi import event_topic
from othentic_offchain.chain.deploy import TOKEN
from othentic_offchain.devnet.http import post_json
from othentic_offchain.devnet.network import LocalNetwork, operator_keys
from othentic_offchain.devnet.processes import Managed, othentic_command
from othentic_offchain.devnet.rpc_relay import RpcRelay
from othentic_offchain.jsonrpc import BlockingJsonRpcClient, JsonRpcError, JsonRpcTransportError
from othentic_offchain.nodes.common.protocol import METRICS_PATH

__all__ = ["FAULTS", "FULL", "QUICK", "ChaosNetwork", "Pace", "RunResult"]

GWEI = 10**9
AGGREGATOR = 0  # index of the operator whose account runs the aggregator
PERFORMER = 1  # index of the operator whose account performs the tasks
_CENTER = "IAttestationCenter"


@dataclass(frozen=True)
class Pace:
    """How long each part of a run lasts (seconds) and how many tasks a second are triggered."""

    rate: float
    warmup: float
    tail: float
    settle_timeout: float
    basefee: float
    drops: int
    drop_interval: float
    pause: float
    reorgs: int
    refuse: float
    slow: float
    slow_seconds: float
    aggregator_down: float
    attester_down: float


QUICK = Pace(
    rate=2.0,
    warmup=3.0,
    tail=2.0,
    settle_timeout=150.0,
    basefee=10.0,
    drops=3,
    drop_interval=2.0,
    pause=8.0,
    reorgs=1,
    refuse=8.0,
    slow=8.0,
    slow_seconds=2.0,
    aggregator_down=4.0,
    attester_down=6.0,
)
FULL = Pace(
    rate=3.0,
    warmup=10.0,
    tail=10.0,
    settle_timeout=600.0,
    basefee=60.0,
    drops=10,
    drop_interval=3.0,
    pause=30.0,
    reorgs=3,
    refuse=10.0,
    slow=30.0,
    slow_seconds=2.0,
    aggregator_down=15.0,
    attester_down=30.0,
)


@dataclass
class Trigger:
    """One task triggered on the performer."""

    index: int
    sent_at: float  # wall clock
    task_hash: bytes | None = None  # set when accepted
    answer: str = ""


@dataclass
class RunResult:
    fault: str
    accepted: int = 0
    refused: int = 0
    landed: int = 0
    final: int = 0
    lost: int = 0
    landed_twice: int = 0
    submissions: int = 0  # the aggregator's transactions mined in the run
    reverted: int = 0
    extra_gas: int = 0
    longest_to_land: float = 0.0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    not_final: list[str] = field(default_factory=list)  # hash: last status, for the report

    def problems(self) -> list[str]:
        """The invariants this run broke (empty: every one holds)."""
        found = []
        if self.accepted == 0:
            found.append("no task was accepted")
        if self.lost:
            found.append(f"{self.lost} accepted tasks lost (no taskRecord)")
        if self.landed_twice:
            found.append(f"{self.landed_twice} tasks landed twice")
        if self.final != self.accepted:
            found.append(f"{self.accepted - self.final} accepted tasks not final: {self.not_final[:5]}")
        return found

    def row(self) -> dict[str, Any]:
        reverted_share = 100.0 * self.reverted / self.accepted if self.accepted else 0.0  # goal: under 1 %
        return {
            "fault": self.fault,
            "accepted": self.accepted,
            "landed": self.landed,
            "final": self.final,
            "lost": self.lost,
            "landed twice": self.landed_twice,
            "reverted": f"{self.reverted} ({reverted_share:.1f} %)",
            "extra gas": self.extra_gas,
            "longest to land": f"{self.longest_to_land:.1f} s",
            "run": f"{self.seconds:.0f} s",
        }


def _with_rpc(command: list[str], rpc_url: str) -> list[str]:
    """``command`` with the value of its ``--rpc`` option replaced."""
    out = list(command)
    out[out.index("--rpc") + 1] = rpc_url
    return out


class Workload:
    """Triggers a task on the performer ``rate`` times a second, each on its own thread, until stopped."""

    def __init__(self, performer_url: str, rate: float, label: str):
        self.url = performer_url + "/performer/v1/trigger"
        self.rate = rate
        self.label = label
        self.triggers: list[Trigger] = []
        self._stop = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(32, thread_name_prefix="chaos-trigger")
        self._futures: list[concurrent.futures.Future] = []
        self._thread = threading.Thread(target=self._run, name="chaos-workload", daemon=True)

    def start(self) -> Workload:
        self._thread.start()
        return self

    def stop(self) -> list[Trigger]:
        """Stop triggering and wait for every trigger's answer."""
        self._stop.set()
        self._thread.join()
        concurrent.futures.wait(self._futures)
        self._pool.shutdown()
        return self.triggers

    def _run(self) -> None:
        start = time.monotonic()
        index = 0
        while not self._stop.is_set():
            trigger = Trigger(index, time.time())
            self.triggers.append(trigger)
            self._futures.append(self._pool.submit(self._trigger, trigger))
            index += 1
            self._stop.wait(max(0.0, start + index / self.rate - time.monotonic()))

    def _trigger(self, trigger: Trigger) -> None:
        text = f"chaos {self.label} {trigger.index} {time.time_ns()}"
        try:
            status, body = post_json(self.url, {"params": {"text": text}}, timeout=120.0)
        except Exception as exc:  # the performer did not answer: not accepted
            trigger.answer = f"{type(exc).__name__}: {exc}"
            return
        task_hash = body.get("taskHash") if isinstance(body, dict) else None
        if status in (200, 202) and isinstance(task_hash, str):
            trigger.task_hash = bytes.fromhex(task_hash.removeprefix("0x"))
        trigger.answer = f"{status}: {body.get('status') or body.get('message') or body}"


class LandingWatcher:
    """Polls the center's landing events a few times a second and notes when each (task, block)
    pair was first seen: the time to land of a task is read at the block that holds it in the
    end (a reorganised landing is not the one that counts)."""

    def __init__(self, w3: Any, center: str, first_block: int, interval: float = 0.25):
        self.w3 = w3
        self.center = center
        self.next_block = first_block
        self.interval = interval
        self.seen: dict[tuple[bytes, bytes], float] = {}  # (task hash, block hash) -> wall clock
        self.first_seen: dict[bytes, float] = {}  # task hash -> wall clock its first landing was seen
        self._topics = [["0x" + event_topic(_CENTER, name).hex() for name in ("TaskSubmitted", "TaskRejected")]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-landings", daemon=True)

    def start(self) -> LandingWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                head = int(self.w3.eth.block_number)
                # Look back a few blocks too: a reorganised block has a new hash and new events.
                start = max(1, min(self.next_block, head - 8))
                if head < start:
                    continue
                logs = self.w3.eth.get_logs(
                    {"fromBlock": start, "toBlock": head, "address": self.center, "topics": self._topics}
                )
            except Exception:  # anvil busy with a reorg: look again
                continue
            now = time.time()
            for log in logs:
                self.seen.setdefault((bytes(log["topics"][3]), bytes(log["blockHash"])), now)
                self.first_seen.setdefault(bytes(log["topics"][3]), now)
            self.next_block = head + 1


class ChaosNetwork:
    """The network of the chaos runs (see the module's text); a context manager."""

    def __init__(
        self,
        state_dir: str | Path,
        *,
        operators: int = 10,
        block_time: int = 1,
        finality: int = 5,
        reorg_depth: int = 3,
        aggregator_delay_ms: float = 150,
        progress: Callable[[str], None] = lambda text: None,
    ):
        if reorg_depth >= finality:
            raise ValueError(f"a reorg of depth {reorg_depth} is caught only below the finality depth {finality}")
        self.state = Path(state_dir).resolve()
        self.operators = operators
        self.block_time = block_time
        self.finality = finality
        self.reorg_depth = reorg_depth
        self.aggregator_delay_ms = aggregator_delay_ms
        self.progress = progress
        self.net = LocalNetwork(self.state, progress=progress)
        self.relay: RpcRelay | None = None
        self.commands: dict[str, list[str]] = {}
        self.performer_url = ""
        self.aggregator_account = ""

    # --- the network -------------------------------------------------------------------------------

    def start(self) -> ChaosNetwork:
        net = self.net
        (self.state / "logs").mkdir(parents=True, exist_ok=True)
        net.start_chain(block_time=self.block_time)
        keys = operator_keys("othentic chaos operator", self.operators)
        net.add_operators(keys, [10 * TOKEN] * self.operators)
        net.fund_rewards()
        services = net.start_services("othentic_offchain.devnet.chaos_avs:avs")
        assert services.url is not None
        self.relay = RpcRelay(net.rpc_url).start()
        self.aggregator_account = net.operators[AGGREGATOR].account
        aggregator = net.aggregator_command(
            key=keys[AGGREGATOR],
            delay_ms=self.aggregator_delay_ms,
            extra_args=["--finality", str(self.finality)],
        )
        performer = othentic_command(
            "node",
            "performer",
            "--deployment",
            str(net.deployment_path),
            "--rpc",
            self.relay.url,
            "--private-key",
            keys[PERFORMER],
            "--definition",
            "0",
            "--execution-service",
            services.url,
            "--aggregator",
            net.aggregator_url,
            "--outbox",
            str(self.state / "performer-outbox.sqlite3"),
        )
        self.commands = {"aggregator": _with_rpc(aggregator, self.relay.url), "performer": performer}
        started = net.start_nodes(
            validation_service=services.url,
            extra=[("aggregator", self.commands["aggregator"]), ("performer", performer)],
        )
        for op in net.operators:  # as start_nodes ran them (a Managed's command lacks the key)
            self.commands[f"attester-{op.id}"] = net.attester_command(op, validation_service=services.url)
        url = started["performer"].url
        assert url is not None
        self.performer_url = url
        return self

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
            self.relay = None
        self.net.stop()

    def __enter__(self) -> ChaosNetwork:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def anvil(self) -> Any:
        assert self.net.anvil is not None
        return self.net.anvil

    @property
    def w3(self) -> Any:
        return self.net.w3

    def process(self, name: str) -> Managed:
        return self.net.supervisor.processes[name]

    def kill(self, name: str) -> None:
        self.net.supervisor.kill(name)

    def restart(self, name: str) -> None:
        """Start ``name`` again with its command (the same port and store) and wait until it listens."""
        self.net.supervisor.start(name, self.commands[name], timeout=120)

    def submission_counts(self) -> dict[str, int]:
        """The aggregator's ``othentic_aggregator_submissions_total`` by result (empty when it
        does not answer); a restart starts them again from zero."""
        from prometheus_client.parser import text_string_to_metric_families

        try:
            with urllib.request.urlopen(self.net.aggregator_url + METRICS_PATH, timeout=10) as response:
                text = response.read().decode()
        except Exception:
            return {}
        counts: dict[str, int] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "othentic_aggregator_submissions_total":
                    counts[sample.labels["result"]] = int(sample.value)
        return counts

    def task_status(self, task_hash: bytes) -> dict | None:
        """The aggregator's ``taskStatus`` of a task; None when it does not answer or know it yet."""
        try:
            client = BlockingJsonRpcClient(self.net.aggregator_url, timeout=10)
            return client.call("taskStatus", ["0x" + task_hash.hex()])
        except (JsonRpcError, JsonRpcTransportError):
            return None

    # --- one run ------------------------------------------------------------------------------------

    def run(self, fault: str, pace: Pace = QUICK) -> RunResult:
        """One run of ``fault`` (a key of :data:`FAULTS`): workload, fault, settling, account."""
        inject = FAULTS[fault]
        result = RunResult(fault)
        started = time.monotonic()
        first_block = int(self.w3.eth.block_number) + 1
        counted = self.submission_counts()
        aggregator = self.process("aggregator")
        assert self.net.avs is not None
        watcher = LandingWatcher(self.w3, self.net.avs.center.address, first_block).start()
        workload = Workload(self.performer_url, pace.rate, fault).start()
        try:
            time.sleep(pace.warmup)
            self.progress(f"{fault}: injecting the fault")
            inject(self, pace, result)
            self.progress(f"{fault}: the fault cleared")
            time.sleep(pace.tail)
        finally:
            triggers = workload.stop()
        accepted = [t for t in triggers if t.task_hash is not None]
        result.accepted = len(accepted)
        result.refused = len(triggers) - len(accepted)
        if result.refused:
            answers = sorted({t.answer for t in triggers if t.task_hash is None})
            result.notes.append(f"{result.refused} triggers refused: {answers[:3]}")
        self.progress(f"{fault}: {len(accepted)} tasks accepted; waiting until every one is final")
        try:
            self._settle(accepted, pace.settle_timeout, result)
        finally:
            watcher.stop()
        self._account(accepted, first_block, watcher.seen, result)
        counts = self.submission_counts()
        if self.process("aggregator") is aggregator:  # not restarted: the run's own share
            counts = {k: v - counted.get(k, 0) for k, v in counts.items()}
        else:
            result.notes.append("the aggregator restarted: its counters below are since then")
        shown = {k: v for k, v in sorted(counts.items()) if v}
        result.notes.append(f"aggregator submissions: {shown}")
        result.seconds = time.monotonic() - started
        return result

    def _settle(self, accepted: list[Trigger], timeout: float, result: RunResult) -> None:
        """Wait until every accepted task is final (or ``timeout``); counts ``final``."""
        waiting = {t.task_hash: "unknown" for t in accepted if t.task_hash is not None}
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            head = int(self.w3.eth.block_number)
            for task_hash in list(waiting):
                status = self.task_status(task_hash)
                if status is None:
                    continue
                waiting[task_hash] = f"{status.get('status')} final={status.get('final')} {status.get('error') or ''}"
                if status.get("status") != "landed" or status.get("final") is not True:
                    continue
                number, block, _approved = self._task_record(task_hash)
                if number and head - block >= self.finality:
                    del waiting[task_hash]
            if waiting:
                time.sleep(0.5)
        result.final = len(accepted) - len(waiting)
        result.not_final = [f"0x{h.hex()[:12]}: {s}" for h, s in waiting.items()]

    def _task_record(self, task_hash: bytes) -> tuple[int, int, bool]:
        assert self.net.avs is not None
        return self.net.avs.task_record(task_hash)

    def _account(
        self, accepted: list[Trigger], first_block: int, seen: dict[tuple[bytes, bytes], float], result: RunResult
    ) -> None:
        """Count from the chain: events per task, the aggregator's transactions and their gas."""
        w3 = self.w3
        assert self.net.avs is not None
        center = self.net.avs.center.address
        last_block = int(w3.eth.block_number)
        topics = [event_topic(_CENTER, "TaskSubmitted"), event_topic(_CENTER, "TaskRejected")]
        logs = w3.eth.get_logs(
            {
                "fromBlock": first_block,
                "toBlock": last_block,
                "address": center,
                "topics": [["0x" + t.hex() for t in topics]],
            }
        )
        events: dict[bytes, list[Any]] = {}
        for log in logs:
            events.setdefault(bytes(log["topics"][3]), []).append(log)
        timestamps: dict[int, int] = {}
        landing_txs: set[bytes] = set()
        for trigger in accepted:
            assert trigger.task_hash is not None
            found = events.get(trigger.task_hash, [])
            if found:
                result.landed += 1
                landing_txs.add(bytes(found[0]["transactionHash"]))
                landed_at = seen.get((trigger.task_hash, bytes(found[0]["blockHash"])))
                if landed_at is None:  # not seen while polling: the block's own time
                    block = int(found[0]["blockNumber"])
                    if block not in timestamps:
                        timestamps[block] = int(w3.eth.get_block(block)["timestamp"])
                    landed_at = float(timestamps[block])
                result.longest_to_land = max(result.longest_to_land, landed_at - trigger.sent_at)
            if len(found) > 1:
                result.landed_twice += 1
            if self._task_record(trigger.task_hash)[0] == 0:
                result.lost += 1
        account = self.aggregator_account.lower()
        for number in range(first_block, last_block + 1):
            for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
                if str(tx["from"]).lower() != account:
                    continue
                receipt = w3.eth.get_transaction_receipt(tx["hash"])
                result.submissions += 1
                if int(receipt["status"]) != 1:
                    result.reverted += 1
                if bytes(tx["hash"]) not in landing_txs:
                    result.extra_gas += int(receipt["gasUsed"])


# --- the faults ---------------------------------------------------------------------------------------


def _until(seconds: float, every: float, action: Callable[[], None]) -> None:
    """Call ``action`` every ``every`` seconds for ``seconds``."""
    end = time.monotonic() + seconds
    while True:
        action()
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(every, left))


def _basefee(chaos: ChaosNetwork, pace: Pace, result: RunResult) -> None:
    anvil = chaos.anvil
    w3 = chaos.w3
    latest = w3.eth.get_block("latest")
    before, first = int(latest["baseFeePerGas"]), int(latest["number"]) + 1
    raised = max(before, GWEI) * 20
    # Before every block: the setting is for the next block only.
    _until(pace.basefee, 0.1, lambda: anvil.rpc("anvil_setNextBlockBaseFeePerGas", [hex(raised)]))
    anvil.rpc("anvil_setNextBlockBaseFeePerGas", [hex(before)])
    last = int(w3.eth.block_number)
    high = sum(1 for n in range(first, last + 1) if int(w3.eth.get_block(n)["baseFeePerGas"]) >= raised)
    result.notes.append(
        f"base fee {before / GWEI:.3g} gwei -> {raised / GWEI:.3g} gwei for {pace.basefee:g} s "
        f"({high} of blocks {first}..{last} at it)"
    )


def _drop(chaos: ChaosNetwork, pace: Pace, result: RunResult) -> None:
    """Drop every pending transaction from anvil's pool, ``drops`` times, each time as soon as the
    pool holds some (and at least ``drop_interval`` after the last)."""
    anvil = chaos.anvil
    dropped = 0
    deadline = time.monotonic() + 120
    for _ in range(pace.drops):
        time.sleep(pace.drop_interval)
        while True:
            pending = int(anvil.rpc("txpool_status")["pending"], 16)
            if pending:
                anvil.rpc("anvil_dropAllTransactions")
                dropped += pending
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the pool stayed empty for 120 s: nothing to drop")
            time.sleep(0.02)
    result.notes.append(f"{pace.drops} times every pending transaction dropped ({dropped} in all)")


def _pause(chaos: ChaosNetwork, pace: Pace, result: RunResult) -> None:
    chaos.anvil.rpc("evm_setIntervalMining", [0])
    try:
        time.sleep(pace.pause)
    finally:
        chaos.anvil.rpc("evm_setIntervalMining", [chaos.block_time])
    result.notes.append(f"mining paused {pace.pause:g} s")


def _reorg(chaos: ChaosNetwork, pace: Pace, result: RunResult) -> None:
    """Once the head holds a landed submission, replace the last blocks by empty ones."""
    w3, anvil = chaos.w3, chaos.anvil
    assert chaos.net.avs is not None
    center = chaos.net.avs.center.address
    submitted = "0x" + event_topic(_CENTER, "TaskSubmitted").hex()
    removed = 0
    for _ in range(pace.reorgs):
        deadline = time.monotonic() + 60
        seen = int(w3.eth.block_number)
        while True:
            head = int(w3.eth.block_number)
            if head > seen:
                seen = head
                query = {"address": center, "topics": [submitted]}
                if w3.eth.get_logs({**query, "fromBlock": head, "toBlock": head}):
                    depth = chaos.reorg_depth
                    landed = w3.eth.get_logs({**query, "fromBlock": head - depth + 1, "toBlock": head})
                    anvil.rpc("anvil_reorg", [depth, []])
                    removed += len(landed)  # about: a block may have come between the two calls
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("no submission landed within 60 s: nothing to reorg")
            time.sleep(0.1)
        time.sleep(chaos.reorg_depth + 1)
    result.notes.append(f"{pace.reorgs} reorgs of depth {chaos.reorg_depth}, about {removed} landings removed")


def _relay_fault(mode: str) -> Callable[[ChaosNetwork, Pace, RunResult], None]:
    def fault(chaos: ChaosNetwork, pace: Pace, result: RunResult) -> None:
        relay = chaos.relay
        assert relay is not None
        if mode == "refuse":
            relay.refuse(503)
            seconds = pace.refuse
        else:
            relay.slow(pace.slow_seconds)
            seconds = pace.slow
        try:
            time.sleep(seconds)
        finally:
            relay.pass_through()
        what = "HTTP 503" if mode == "refuse" else f"{pace.slow_seconds:g} s per call"
        result.notes.append(f"the nodes' RPC: {what} for {seconds:g} s ({dict(relay.counts)})")

    return fault


def _kill_aggregator(chaos: ChaosNetwork, pace: Pace, result: RunResult) -> None:
    """SIGKILL once the store holds a task being submitted, restart on the same store later."""
    deadline = time.monotonic() + 60
    while not _submitting(chaos):
        if time.monotonic() > deadline:
            raise RuntimeError("no task was submitting within 60 s")
        time.sleep(0.05)
    chaos.kill("aggregator")
    killed_at = time.monotonic()
    time.sleep(pace.aggregator_down)
    chaos.restart("aggregator")
    result.notes.append(f"aggregator SIGKILLed while submitting; back {time.monotonic() - killed_at:.0f} s later")


def _submitting(chaos: ChaosNetwork) -> bool:
    """Whether the aggregator's store holds a task in ``submitting`` (read from its SQLite file)."""
    import sqlite3

    db = sqlite3.connect(str(chaos.state / "aggregator.sqlite3"), timeout=10)
    try:
        return db.execute("SELECT 1 FROM tasks WHERE status = 'submitting' LIMIT 1").fetchone() is not None
    finally:
        db.close()


def _kill_attesters(chaos: ChaosNetwork, pace: Pace, result: RunResult) -> None:
    victims = [f"attester-{op.id}" for op in chaos.net.operators[-2:]]
    for name in victims:
        chaos.kill(name)
    time.sleep(pace.attester_down)
    for name in victims:
        chaos.restart(name)
    result.notes.append(f"{', '.join(victims)} SIGKILLed for {pace.attester_down:g} s")


#: Every fault by name: a function that injects it, lasts its time by ``pace``, clears it.
FAULTS: dict[str, Callable[[ChaosNetwork, Pace, RunResult], None]] = {
    "basefee": _basefee,
    "drop": _drop,
    "pause": _pause,
    "reorg": _reorg,
    "rpc-refuse": _relay_fault("refuse"),
    "rpc-slow": _relay_fault("slow"),
    "kill-aggregator": _kill_aggregator,
    "kill-attester": _kill_attesters,
}
