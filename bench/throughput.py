#!/usr/bin/env python
"""End-to-end throughput, latency and aggregator memory of a whole network on this machine.

    python bench/throughput.py                  # rich tables (plain text when piped), ~8 min when quiet
    python bench/throughput.py --markdown       # Markdown, as pasted in README.md
    python bench/throughput.py --quick          # a smoke run, under 2 minutes
    python bench/throughput.py --steps 5,10,15 --step-seconds 30 --memory-tasks 10000
    python bench/throughput.py --wait-quiet 600 # on a shared machine: start when the CPU is idle
    python bench/throughput.py --quick --profile  # also cProfile the aggregator and one attester

Setup (everything a separate OS process, as operators run it): anvil (automine, prague), the
contracts (`deploy_system`), 10 operators registered with equal stakes and their endpoints
published on-chain, one services process (`othentic services bench/throughput.py:avs`) serving a
cheap AVS on definition 0 (approve when data is the SHA-256 of the proof-of-task), the aggregator
(`othentic node aggregator`) and 10 attesters (`othentic node attester`). This process plays the
performer: it builds and signs each task itself (TaskInfo.sign), calls the aggregator's JSON-RPC
`sendTask` over one keep-alive aiohttp session, and sees tasks land through an `eth_subscribe`
logs subscription on anvil (TaskSubmitted / TaskRejected), so following tasks costs the
aggregator nothing while they run; `taskStatus` is asked once per task after each phase.

Measured:

1. latency at a low rate (1 task/s for 30 s): p50/p95/p99 on the bench's clock (from the sendTask
   call to the moment the landing event arrives) and on the aggregator's (`createdAt` to
   `finishedAt`, i.e. accepted to receipt seen);
2. sustained throughput: offered rates stepped 5, 10, 15, 20, 25 tasks/s, 20 s each, each step
   drained before the next; "achieved" is the rate of landings inside the offered window after a
   short warm-up; a step "keeps up" when achieved >= 95 % of offered, nothing failed and p95 < 2 s;
3. aggregator memory over 5,000 tasks (at the highest rate that kept up, with a bounded number in
   flight): VmRSS from /proc every 500 landed tasks.

And where the time goes: per-step medians from the nodes' JSON logs (aggregator: accepted, votes
collected, submitting, landed; attester: received, validated, signed, answered), and CPU time per
landed task of every process (from /proc/<pid>/stat) next to how busy the machine's cores were.

Other processes on a shared machine compete for the same cores: the tables show how much CPU they
took meanwhile (/proc/stat), so a disturbed run can be recognised and repeated.

Goals: at least 15 tasks/s sustained, p50 below 0.5 s at 1 task/s, flat aggregator memory.
Every process is stopped at the end, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Only this light import at module level: the services process imports this file for `avs`.
from othentic_offchain.avs import Avs, Task  # noqa: E402

# --- the AVS the services process serves (`othentic services bench/throughput.py:avs`) -------------

avs = Avs("throughput-bench")


@avs.validate(0)
async def _approve_sha256_of_proof(task: Task, ctx) -> bool:
    """Definition 0: approve when data is the SHA-256 of the proof-of-task string."""
    return len(task.data) == 32 and hashlib.sha256(task.proof_of_task.encode()).digest() == task.data


# --- the benchmark ----------------------------------------------------------------------------------

MACHINE = "machine (every process)"
TOKEN = 10**18
STAKE = 10 * TOKEN
DEFINITION = 0
GOAL_RATE = 15.0
GOAL_P50 = 0.5
KEEP_UP_SHARE = 0.95
KEEP_UP_P95 = 2.0

# keccak of the event signatures (as in othentic_offchain.nodes.aggregator.node)
_SUBMITTED_SIG = "TaskSubmitted(uint64,uint16,bytes32,address,address,string,bytes,uint32[],uint256,uint256)"
_REJECTED_SIG = "TaskRejected(uint64,uint16,bytes32,address,address,string,bytes,uint32[],uint256,uint256)"


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- /proc readings ---------------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def rss_mb(pid: int | None) -> float:
    """VmRSS of a process in MiB (nan when it is gone)."""
    if pid is None:
        return float("nan")
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine (every process, ours and others'), from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    guest = sum(values[8:10]) if len(values) > 9 else 0  # already counted in user and nice
    return (sum(values) - idle - guest) / _TICKS


def wait_for_quiet(limit: float, threshold: float = 15.0, window: float = 3.0) -> float:
    """Wait (at most ``limit`` seconds) until the machine's CPU is below ``threshold`` % busy over
    ``window`` seconds: other users' load competes with the network. Returns the last reading."""
    deadline = time.monotonic() + limit
    while True:
        before, t0 = machine_cpu_seconds(), time.monotonic()
        time.sleep(window)
        busy = 100 * (machine_cpu_seconds() - before) / ((os.cpu_count() or 1) * (time.monotonic() - t0))
        if busy < threshold or time.monotonic() > deadline:
            return busy
        say(f"the machine is {busy:.0f} % busy with other processes: waiting for it to calm down")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- the network ------------------------------------------------------------------------------------


class Network:
    """anvil, the contracts, the operators, and the services, aggregator and attester processes."""

    def __init__(self, state: Path, operators: int, aggregator_delay_ms: float, profile: bool = False):
        self.state = state
        self.profile = profile
        self.profiles: dict[str, Path] = {}
        self.operators = operators
        self.aggregator_delay_ms = aggregator_delay_ms
        self.anvil = None
        self.supervisor = None
        from eth_utils import keccak

        self.keys = ["0x" + keccak(text=f"othentic throughput bench operator {i}").hex() for i in range(operators)]
        self.aggregator_key = self.keys[0]
        self.performer_key = self.keys[1]

    def start(self) -> None:
        from eth_account import Account

        from othentic_offchain.chain.client import AvsContracts, fund_eth
        from othentic_offchain.chain.deploy import Web3Backend, deploy_system
        from othentic_offchain.devnet.anvil import DEV_PRIVATE_KEYS, Anvil, free_port
        from othentic_offchain.devnet.processes import Supervisor, othentic_command
        from othentic_offchain.devnet.tokens import mintable
        from othentic_offchain.crypto.keys import derive_bls_key

        say("starting anvil (automine)")
        self.anvil = Anvil().start()
        self.anvil_version = self.anvil.rpc("web3_clientVersion")
        w3 = self.anvil.web3()
        self.w3 = w3
        say("deploying the contracts")
        backend = Web3Backend(w3, DEV_PRIVATE_KEYS[0])
        record = deploy_system(backend)
        record.rpc_url = self.anvil.rpc_url
        self.record = record
        self.deployment_path = record.save(self.state / "deployment.json")
        self.avs = AvsContracts(w3, record)
        self.center = self.avs.address
        admin = self.avs.sender(DEV_PRIVATE_KEYS[0])

        say(f"registering {self.operators} operators (equal stakes of {STAKE // TOKEN} tokens)")
        accounts = [Account.from_key(k).address for k in self.keys]
        fund_eth(w3, accounts, 1_000 * TOKEN)
        senders = [self.avs.sender(k) for k in self.keys]
        pending = [admin.send(mintable(self.avs.stake_token).functions.mint(s.address, STAKE), wait=False) for s in senders]
        for tx in pending:
            admin.wait(tx)
        self.attester_ports = [free_port() for _ in self.keys]

        def register(i: int) -> None:
            self.avs.register_operator(senders[i], derive_bls_key(self.keys[i]), STAKE)
            senders[i].send(self.avs.center.functions.setOperatorEndpoint(f"http://127.0.0.1:{self.attester_ports[i]}"))

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(register, range(self.operators)))
        self.operator_ids = [self.avs.operator_id(a) for a in accounts]
        self.performer = accounts[1]
        members = self.avs.definition_members(DEFINITION)
        if sorted(members) != sorted(self.operator_ids):
            raise RuntimeError(f"definition {DEFINITION} has members {sorted(members)}, expected {self.operator_ids}")

        self.supervisor = Supervisor(self.state / "logs", env={"OTHENTIC_PROJECT_ROOT": str(ROOT)})
        say("starting the services process")
        services = self.supervisor.start(
            "services", othentic_command("services", f"{Path(__file__).resolve()}:avs", "--port", "0", "--role",
                                         "validation"), timeout=90)
        self.services_url = services.url
        say(f"starting the aggregator and {self.operators} attesters")
        chain = ["--deployment", str(self.deployment_path), "--rpc", self.anvil.rpc_url]
        aggregator_port = free_port()
        self.aggregator_url = f"http://127.0.0.1:{aggregator_port}"
        specs = [("aggregator", othentic_command(
            "node", "aggregator", *chain, "--private-key", self.aggregator_key, "--port", str(aggregator_port),
            "--db", str(self.state / "aggregator.sqlite3"), "--delay", str(self.aggregator_delay_ms)))]
        for i, key in enumerate(self.keys):
            specs.append((f"attester-{self.operator_ids[i]}", othentic_command(
                "node", "attester", *chain, "--private-key", key, "--port", str(self.attester_ports[i]),
                "--validation-service", self.services_url,
                "--db", str(self.state / f"attester-{self.operator_ids[i]}.sqlite3"))))
        if self.profile:  # the aggregator and the first attester under cProfile (main thread only)
            (self.state / "profiles").mkdir(exist_ok=True)
            for index in (0, 1):
                name, command = specs[index]
                self.profiles[name] = self.state / "profiles" / f"{name}.prof"
                specs[index] = (name, command[:1] + ["-m", "cProfile", "-o", str(self.profiles[name])] + command[1:])
        started = self.supervisor.start_many(specs, timeout=180)
        self.pids = {m.name: m.proc.pid for m in started}
        self.pids["services"] = services.proc.pid
        self.pids["anvil"] = self.anvil.pid
        self.log_dir = self.state / "logs"

    def cpu_snapshot(self) -> dict[str, float]:
        """CPU seconds so far, by group: aggregator, attesters (sum), services, anvil, bench."""
        snap = {"aggregator": 0.0, "attesters (10)": 0.0, "services": 0.0, "anvil": 0.0}
        for name, pid in self.pids.items():
            group = "attesters (10)" if name.startswith("attester-") else name
            snap[group] = snap.get(group, 0.0) + cpu_seconds(pid)
        times = os.times()
        snap["bench (performer)"] = times.user + times.system
        snap[MACHINE] = machine_cpu_seconds()
        return snap

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop_all()
        if self.anvil is not None:
            self.anvil.stop()


# --- the performer / load generator -----------------------------------------------------------------


@dataclass
class Track:
    """One task the bench sent."""

    task_hash: bytes
    phase: str
    sent: float  # perf_counter at the sendTask call
    sent_wall: float  # time.time() at the sendTask call (to compare with the nodes' log stamps)
    answered: float | None = None
    landed: float | None = None  # perf_counter when the landing event reached the bench
    approved: bool | None = None
    error: str | None = None
    status: str | None = None  # from taskStatus
    created_at: float | None = None
    finished_at: float | None = None

    @property
    def done(self) -> bool:
        return self.landed is not None or self.error is not None

    @property
    def ok(self) -> bool:
        return self.landed is not None and self.approved is True and self.error is None

    @property
    def wall_latency(self) -> float | None:
        return None if self.landed is None else self.landed - self.sent

    @property
    def aggregator_latency(self) -> float | None:
        if self.created_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.created_at


@dataclass
class Phase:
    name: str
    rate: float
    seconds: float  # the offered window
    tracks: list[Track] = field(default_factory=list)
    start: float = 0.0
    offered_end: float = 0.0
    drained_at: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during start..drained
    cpu_window: dict[str, float] = field(default_factory=dict)  # CPU seconds during the offered window
    landed_at_offer_end: int = 0
    samples: list[dict] = field(default_factory=list)  # memory samples

    @property
    def sent(self) -> int:
        return len(self.tracks)

    @property
    def landed(self) -> list[Track]:
        return [t for t in self.tracks if t.ok]

    @property
    def failures(self) -> list[Track]:
        return [t for t in self.tracks if not t.ok]

    def achieved(self, warmup: float) -> float:
        """Landings per second inside [start + warmup, offered end]."""
        lo, hi = self.start + warmup, self.offered_end
        if hi <= lo:
            return float("nan")
        return sum(1 for t in self.tracks if t.ok and lo <= t.landed <= hi) / (hi - lo)

    def wall(self) -> list[float]:
        return [t.wall_latency for t in self.landed]

    def agg(self) -> list[float]:
        return [t.aggregator_latency for t in self.landed if t.aggregator_latency is not None]


class LoadGenerator:
    def __init__(self, net: Network, run_id: str, drain_timeout: float):
        from eth_utils import keccak

        self.net = net
        self.run_id = run_id
        self.drain_timeout = drain_timeout
        self.tracks: dict[bytes, Track] = {}
        self.topics = {"0x" + keccak(text=_SUBMITTED_SIG).hex(): True, "0x" + keccak(text=_REJECTED_SIG).hex(): False}
        self.counter = 0
        self.landed_total = 0
        self.changed = asyncio.Event()
        self.on_landed = None  # callback(track) for the memory phase
        self.watch_mode = "eth_subscribe(logs)"

    async def __aenter__(self) -> "LoadGenerator":
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=60),
            timeout=aiohttp.ClientTimeout(total=60))
        self.aggregator = self.net.aggregator_url
        self.anvil = self.net.anvil.rpc_url
        self._ws_ready = asyncio.Event()
        self.watcher = asyncio.create_task(self._watch(), name="landing-watcher")
        await asyncio.wait_for(self._ws_ready.wait(), 30)
        return self

    async def __aexit__(self, *exc) -> None:
        self.watcher.cancel()
        await asyncio.gather(self.watcher, return_exceptions=True)
        await self.session.close()

    async def rpc(self, url: str, method: str, params) -> object:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        async with self.session.post(url, json=body) as response:
            answer = await response.json(content_type=None)
        if "error" in answer:
            error = answer["error"]
            raise RuntimeError(f"{method}: {error.get('code')} {error.get('message')}")
        return answer["result"]

    # -- landing events ------------------------------------------------------------------------

    def _landed(self, log: dict) -> None:
        topics = log.get("topics") or []
        if len(topics) < 4 or topics[0] not in self.topics:
            return
        track = self.tracks.get(bytes.fromhex(topics[3][2:]))
        if track is None or track.landed is not None:
            return
        track.landed = time.perf_counter()
        track.approved = self.topics[topics[0]]
        self.landed_total += 1
        if self.on_landed is not None:
            self.on_landed(track)
        self.changed.set()

    async def _watch(self) -> None:
        """Landing events pushed by anvil over a websocket; polling eth_getLogs if that fails."""
        flt = {"address": self.net.center, "topics": [list(self.topics)]}
        ws_url = "ws" + self.anvil[len("http"):]
        last_block = int(await self.rpc(self.anvil, "eth_blockNumber", []), 16)
        try:
            async with self.session.ws_connect(ws_url, heartbeat=30) as ws:
                await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["logs", flt]})
                answer = await ws.receive_json(timeout=10)
                if "result" not in answer:
                    raise RuntimeError(f"eth_subscribe: {answer}")
                self._ws_ready.set()
                async for message in ws:
                    if message.type.name != "TEXT":
                        break
                    data = json.loads(message.data)
                    log = data.get("params", {}).get("result")
                    if isinstance(log, dict):
                        last_block = max(last_block, int(log.get("blockNumber", "0x0"), 16))
                        self._landed(log)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            say(f"log subscription failed ({type(exc).__name__}: {exc}); polling eth_getLogs every 50 ms")
        self.watch_mode = "eth_getLogs every 50 ms"
        self._ws_ready.set()
        while True:  # fallback: poll from the last block seen
            try:
                head = int(await self.rpc(self.anvil, "eth_blockNumber", []), 16)
                if head >= last_block:
                    logs = await self.rpc(self.anvil, "eth_getLogs", [{**flt, "fromBlock": hex(last_block),
                                                                       "toBlock": hex(head)}])
                    for log in logs:
                        self._landed(log)
                    last_block = head
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                say(f"eth_getLogs failed: {exc}")
            await asyncio.sleep(0.05)

    # -- sending -------------------------------------------------------------------------------

    def _new_task(self):
        from othentic_offchain.chain.types import TaskInfo

        self.counter += 1
        proof = f"throughput {self.run_id} task {self.counter}"
        task = TaskInfo(proof, hashlib.sha256(proof.encode()).digest(), self.net.performer, DEFINITION)
        return task, task.sign(self.net.performer_key), task.task_hash()

    async def _send(self, track: Track, params: list) -> None:
        try:
            answer = await self.rpc(self.aggregator, "sendTask", params)
            if answer != "0x" + track.task_hash.hex():
                track.error = f"sendTask answered {answer}"
        except Exception as exc:
            track.error = f"sendTask failed: {type(exc).__name__}: {exc}"
        track.answered = time.perf_counter()
        if track.error:
            self.changed.set()

    def send_one(self, phase: Phase, background: set) -> Track:
        task, signature, task_hash = self._new_task()  # the performer's work: build and sign
        track = Track(task_hash, phase.name, time.perf_counter(), time.time())
        self.tracks[task_hash] = track
        phase.tracks.append(track)
        params = [task.proof_of_task, "0x" + task.data.hex(), DEFINITION, task.performer, "0x" + signature.hex()]
        job = asyncio.create_task(self._send(track, params))
        background.add(job)
        job.add_done_callback(background.discard)
        return track

    async def run(self, phase: Phase, count: int, max_in_flight: int | None = None) -> Phase:
        """Offer ``count`` tasks at ``phase.rate`` (never more than ``max_in_flight`` unfinished),
        then wait for every one to land or fail."""
        background: set[asyncio.Task] = set()
        phase.start = time.perf_counter()
        cpu0 = self.net.cpu_snapshot()
        outstanding = 0
        for i in range(count):
            delay = phase.start + i / phase.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if max_in_flight is not None:
                while True:
                    outstanding = sum(1 for t in phase.tracks[-max_in_flight * 2:] if not t.done)
                    if outstanding < max_in_flight:
                        break
                    self.changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.changed.wait(), 0.5)
            self.send_one(phase, background)
        phase.offered_end = max(time.perf_counter(), phase.start + count / phase.rate)
        if phase.offered_end > time.perf_counter():
            await asyncio.sleep(phase.offered_end - time.perf_counter())
        cpu1 = self.net.cpu_snapshot()
        phase.landed_at_offer_end = sum(1 for t in phase.tracks if t.landed is not None)
        phase.cpu_window = {k: cpu1[k] - cpu0[k] for k in cpu0}
        await self._drain(phase)
        if background:
            await asyncio.gather(*background, return_exceptions=True)
        phase.drained_at = time.perf_counter()
        cpu2 = self.net.cpu_snapshot()
        phase.cpu = {k: cpu2[k] - cpu0[k] for k in cpu0}
        return phase

    async def _drain(self, phase: Phase) -> None:
        deadline = time.perf_counter() + self.drain_timeout
        last_check = time.perf_counter()
        while True:
            open_tracks = [t for t in phase.tracks if not t.done]
            if not open_tracks:
                return
            now = time.perf_counter()
            if now > deadline:
                for t in open_tracks:
                    t.error = f"not landed within {self.drain_timeout:g} s after the offered window"
                return
            if now - last_check > 2.0:  # tasks the aggregator gave up on will never land
                last_check = now
                old = [t for t in open_tracks if now - t.sent > 10][:64]
                await self.fetch_status(old)
                for t in old:
                    if t.status == "failed" and t.landed is None:
                        t.error = f"aggregator: failed ({t.error or 'no reason'})"
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 0.5)

    async def fetch_status(self, tracks: list[Track], concurrency: int = 8) -> None:
        """taskStatus of each task: the aggregator's createdAt / finishedAt, status and error."""
        gate = asyncio.Semaphore(concurrency)

        async def one(track: Track) -> None:
            if track.error and track.error.startswith("sendTask"):
                return
            async with gate:
                try:
                    status = await self.rpc(self.aggregator, "taskStatus", ["0x" + track.task_hash.hex()])
                except Exception as exc:
                    track.status = f"taskStatus failed: {exc}"
                    return
            track.status = status.get("status")
            track.created_at = status.get("createdAt")
            track.finished_at = status.get("finishedAt")
            if status.get("status") == "failed":
                track.error = status.get("error") or "failed"

        await asyncio.gather(*(one(t) for t in tracks))


# --- where the time goes: the nodes' JSON logs ------------------------------------------------------


def read_steps(log_dir: Path) -> tuple[dict[str, dict[str, dict]], dict[str, list[dict]]]:
    """{task hash: {step: record}} of the aggregator and {task hash: [attester records by step]}."""
    aggregator: dict[str, dict[str, dict]] = {}
    attesters: dict[str, list[dict]] = {}
    for path in sorted(log_dir.glob("*.log")):
        is_aggregator = path.name == "aggregator.log"
        if not (is_aggregator or path.name.startswith("attester-")):
            continue
        per_task: dict[str, dict[str, dict]] = {}
        with open(path, errors="replace") as handle:
            for line in handle:
                if not line.startswith("{"):
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                task = record.get("task")
                step = record.get("step")
                if task and step:
                    per_task.setdefault(task, {}).setdefault(step, record)
        if is_aggregator:
            aggregator = per_task
        else:
            for task, steps in per_task.items():
                attesters.setdefault(task, []).append(steps)
    return aggregator, attesters


BREAKDOWN_ROWS = [
    ("bench: sendTask round trip", "client"),
    ("bench call -> aggregator task.accepted", "agg"),
    ("aggregator: accepted -> votes.collected (quorum)", "agg"),
    ("aggregator: collected -> task.submitting (aggregate, estimateGas, sign, store)", "agg"),
    ("aggregator: submitting -> task.landed (broadcast, mine, receipt)", "agg"),
    ("landing event at the bench -> aggregator task.landed (its receipt poll)", "agg"),
    ("attester: accepted -> task.received (dispatch, HTTP, queue)", "att"),
    ("attester: received -> validation call (checks, taskRecord eth_call)", "att"),
    ("attester: validation service call", "att"),
    ("attester: BLS sign", "att"),
    ("attester: record vote (SQLite) -> answered", "att"),
    ("attester: handler total (received -> answered)", "att"),
]


def breakdown(phase: Phase, aggregator: dict, attesters: dict) -> dict[str, float]:
    """Median milliseconds per step over the phase's landed tasks (attester rows: over votes)."""
    rows: dict[str, list[float]] = {name: [] for name, _ in BREAKDOWN_ROWS}
    names = [name for name, _ in BREAKDOWN_ROWS]
    offset = time.time() - time.perf_counter()  # perf_counter -> wall clock (same machine clock)
    for track in phase.landed:
        key = "0x" + track.task_hash.hex()
        if track.answered is not None:
            rows[names[0]].append(track.answered - track.sent)
        steps = aggregator.get(key, {})
        accepted = steps.get("task.accepted", {}).get("ts")
        collected = steps.get("votes.collected", {}).get("ts")
        submitting = steps.get("task.submitting", {}).get("ts")
        landed = steps.get("task.landed", {}).get("ts")
        if accepted is not None:
            rows[names[1]].append(accepted - track.sent_wall)
        if accepted is not None and collected is not None:
            rows[names[2]].append(collected - accepted)
        if collected is not None and submitting is not None:
            rows[names[3]].append(submitting - collected)
        if submitting is not None and landed is not None:
            rows[names[4]].append(landed - submitting)
        if landed is not None:
            rows[names[5]].append(landed - (track.landed + offset))
        for att in attesters.get(key, []):
            received = att.get("task.received", {}).get("ts")
            validated = att.get("task.validated", {})
            signed = att.get("task.signed", {}).get("ts")
            answered = att.get("task.answered", {})
            if accepted is not None and received is not None:
                rows[names[6]].append(received - accepted)
            if received is not None and validated.get("ts") is not None:
                validation = validated.get("ms", 0) / 1000
                rows[names[7]].append(validated["ts"] - validation - received)
                rows[names[8]].append(validation)
                if signed is not None:
                    rows[names[9]].append(signed - validated["ts"])
                    if answered.get("ts") is not None:
                        rows[names[10]].append(answered["ts"] - signed)
            if answered.get("ms") is not None and not answered.get("replayed"):
                rows[names[11]].append(answered["ms"] / 1000)
    return {name: median(values) * 1000 for name, values in rows.items()}


# --- the run ----------------------------------------------------------------------------------------


@dataclass
class Options:
    operators: int = 10
    latency_rate: float = 1.0
    latency_seconds: float = 30.0
    steps: tuple[float, ...] = (5, 10, 15, 20, 25)
    step_seconds: float = 20.0
    memory_tasks: int = 5000
    memory_every: int = 500
    memory_rate: float | None = None
    idle_seconds: float = 5.0
    drain_timeout: float = 90.0
    aggregator_delay_ms: float = 0.0
    state_dir: Path | None = None
    keep_state: bool = False
    profile: bool = False
    profile_top: int = 15
    wait_quiet: float = 0.0


@dataclass
class Results:
    options: Options
    machine: str = ""
    anvil_version: str = ""
    watch_mode: str = ""
    setup_seconds: float = 0.0
    idle_cpu: dict[str, float] = field(default_factory=dict)  # CPU % of one core while idle
    latency: Phase | None = None
    steps: list[Phase] = field(default_factory=list)
    memory: Phase | None = None
    memory_rate: float = 0.0
    memory_in_flight: int = 0
    breakdown: dict[str, dict[str, float]] = field(default_factory=dict)
    profiles: dict[str, dict[str, list[tuple[str, float, float, float]]]] = field(default_factory=dict)
    tasks_total: int = 0
    health: dict = field(default_factory=dict)
    log_dir: str = ""


def warmup_of(phase: Phase) -> float:
    return min(2.0, phase.seconds / 4)


def kept_up(phase: Phase) -> bool:
    return (phase.achieved(warmup_of(phase)) >= KEEP_UP_SHARE * phase.rate and not phase.failures
            and percentile(phase.wall(), 95) < KEEP_UP_P95)


async def measure(net: Network, options: Options, results: Results) -> None:
    run_id = f"{int(time.time())}-{os.getpid()}"
    async with LoadGenerator(net, run_id, options.drain_timeout) as gen:
        results.watch_mode = gen.watch_mode
        say("warming up (3 tasks)")
        await gen.run(Phase("warm-up", 2.0, 1.5), 3)

        say(f"idle for {options.idle_seconds:g} s (background CPU of the nodes)")
        before, t0 = net.cpu_snapshot(), time.perf_counter()
        await asyncio.sleep(options.idle_seconds)
        after, elapsed = net.cpu_snapshot(), time.perf_counter() - t0
        results.idle_cpu = {k: 100 * (after[k] - before[k]) / elapsed for k in before}

        n = max(1, round(options.latency_rate * options.latency_seconds))
        say(f"latency: {n} tasks at {options.latency_rate:g}/s")
        results.latency = await gen.run(Phase(f"{options.latency_rate:g}/s", options.latency_rate,
                                              n / options.latency_rate), n)
        await gen.fetch_status(results.latency.tracks)
        _report(results.latency)

        for rate in options.steps:
            count = max(1, round(rate * options.step_seconds))
            say(f"throughput step: {count} tasks at {rate:g}/s")
            phase = await gen.run(Phase(f"{rate:g}/s", rate, count / rate), count)
            await gen.fetch_status(phase.tracks)
            results.steps.append(phase)
            _report(phase)

        if options.memory_tasks > 0:
            sustained = [p for p in results.steps if kept_up(p)]
            if options.memory_rate:
                rate = options.memory_rate
            elif sustained:
                rate = max(p.rate for p in sustained)
            else:
                best = max((p.achieved(warmup_of(p)) for p in results.steps), default=5.0)
                rate = max(1.0, round(0.8 * best, 1))
            in_flight = max(20, int(rate * 4))
            results.memory_rate, results.memory_in_flight = rate, in_flight
            phase = Phase("memory", rate, options.memory_tasks / rate)
            agg_pid = net.pids["aggregator"]
            att_pid = net.pids[f"attester-{net.operator_ids[0]}"]

            def sample(landed: int) -> None:
                phase.samples.append({"landed": landed, "t": time.perf_counter(), "aggregator": rss_mb(agg_pid),
                                      "attester": rss_mb(att_pid), "anvil": rss_mb(net.anvil.pid),
                                      "services": rss_mb(net.pids["services"]),
                                      "aggregator_cpu": cpu_seconds(agg_pid), "anvil_cpu": cpu_seconds(net.anvil.pid),
                                      "in_flight": sum(1 for t in phase.tracks if not t.done)})

            landed_in_phase = [0]

            def on_landed(track: Track) -> None:
                if track.phase == phase.name:
                    landed_in_phase[0] += 1
                    if landed_in_phase[0] % options.memory_every == 0:
                        sample(landed_in_phase[0])

            say(f"memory: {options.memory_tasks} tasks at {rate:g}/s (at most {in_flight} in flight), "
                f"VmRSS every {options.memory_every}")
            phase.start = time.perf_counter()
            sample(0)
            gen.on_landed = on_landed
            try:
                await gen.run(phase, options.memory_tasks, max_in_flight=in_flight)
            finally:
                gen.on_landed = None
            if not phase.samples or phase.samples[-1]["landed"] != landed_in_phase[0]:
                sample(landed_in_phase[0])
            await gen.fetch_status([t for t in phase.tracks if not t.ok])
            results.memory = phase
            _report(phase)
        results.tasks_total = sum(1 for t in gen.tracks.values() if t.landed is not None)
        # The landing event reaches the bench before the aggregator's receipt poll: let it catch up.
        deadline = time.perf_counter() + 10
        while True:
            try:
                results.health = await gen.rpc(net.aggregator_url, "health", [])
            except Exception as exc:
                results.health = {"error": str(exc)}
                break
            if not results.health.get("tasksInFlight") or time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.2)


def _report(phase: Phase) -> None:
    wall = phase.wall()
    say(f"  {phase.name}: sent {phase.sent}, landed {len(phase.landed)}, failed {len(phase.failures)}, "
        f"achieved {phase.achieved(warmup_of(phase)):.1f}/s, p50 {median(wall):.3f} s, "
        f"p95 {percentile(wall, 95):.3f} s")
    for t in phase.failures[:3]:
        say(f"    failure: {t.error}")


def run(options: Options) -> Results:
    results = Results(options)
    state = options.state_dir or Path(tempfile.mkdtemp(prefix="othentic-throughput-"))
    if options.state_dir is not None:
        if state.exists():
            shutil.rmtree(state)
        state.mkdir(parents=True)
    net = Network(state, options.operators, options.aggregator_delay_ms, options.profile)
    started = time.perf_counter()
    try:
        if options.wait_quiet > 0:
            busy = wait_for_quiet(options.wait_quiet)
            say(f"machine {busy:.0f} % busy before the start")
            started = time.perf_counter()
        net.start()
        results.setup_seconds = time.perf_counter() - started
        results.anvil_version = net.anvil_version
        results.machine = machine_line(net.anvil_version)
        asyncio.run(measure(net, options, results))
        say("reading the nodes' logs")
        aggregator, attesters = read_steps(net.log_dir)
        phases = ([results.latency] if results.latency else []) + results.steps
        for phase in phases:
            results.breakdown[phase.name] = breakdown(phase, aggregator, attesters)
    finally:
        say("stopping every process")
        net.stop()
        if net.profiles:
            results.profiles = read_profiles(net.profiles, options.profile_top)
        results.log_dir = str(net.state / "logs")
        if options.state_dir is None and not options.keep_state:
            shutil.rmtree(state, ignore_errors=True)
            results.log_dir = ""
    return results


_WAITING = ("<method 'poll' of 'select.epoll' objects>", "<method 'acquire' of '_thread.lock' objects>",
            "<method 'select' of 'select.epoll' objects>")


def read_profiles(paths: dict[str, Path], top: int) -> dict[str, dict[str, list[tuple[str, float, float, float]]]]:
    """Per node, (function, calls, own s, cumulative s): the ``top`` functions by own time (waiting in
    epoll left out) and the ``top`` functions of othentic_offchain by cumulative time."""
    import pstats

    found = {}
    for name, path in paths.items():
        if not path.exists():
            say(f"no profile written by {name} ({path})")
            continue
        stats = pstats.Stats(str(path)).stats  # {(file, line, func): (cc, nc, tt, ct, callers)}
        rows = []
        for (file, line, func), (_cc, calls, own, cumulative, _callers) in stats.items():
            where = func if file == "~" else f"{_short(file)}:{line} {func}"
            rows.append((where, calls, own, cumulative, file))
        own = sorted((r for r in rows if r[0] not in _WAITING), key=lambda r: -r[2])[:top]
        ours_ = sorted((r for r in rows if "othentic_offchain/" in r[4] and "othentic_offchain/cli/" not in r[4]
                        and not r[0].endswith("<module>") and r[3] > 0), key=lambda r: -r[3])[:top]
        found[name] = {"own": [r[:4] for r in own], "cumulative": [r[:4] for r in ours_]}
    return found


def _short(file: str) -> str:
    for marker in ("othentic_offchain/", "site-packages/", "lib/python3"):
        if marker in file:
            return file[file.index(marker) + (len(marker) if marker != "othentic_offchain/" else 0):]
    return Path(file).name


def machine_line(anvil_version: str) -> str:
    return (f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores ({cpu_model()}); "
            f"Python {platform.python_version()}; {anvil_version}")


# --- output -----------------------------------------------------------------------------------------


@dataclass
class Out:
    title: str
    headers: list[str]
    rows: list[list[str]]
    left: int = 1  # leading columns aligned left
    note: str = ""


def ms(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    value = seconds * 1000
    return f"{value:.1f}" if abs(value) < 10 else f"{value:,.0f}"


def tables(results: Results) -> list[Out]:
    out: list[Out] = []
    lat = results.latency
    if lat is not None:
        wall, agg = lat.wall(), lat.agg()
        answered = [t.answered - t.sent for t in lat.landed if t.answered is not None]
        rows = []
        for name, values in (("sendTask call -> landing event seen (bench clock)", wall),
                             ("createdAt -> finishedAt (aggregator clock)", agg),
                             ("sendTask answered (bench clock)", answered)):
            rows.append([name, str(len(values)), ms(median(values)), ms(percentile(values, 95)),
                         ms(percentile(values, 99)), ms(max(values) if values else float("nan"))])
        verdict = "met" if median(wall) < GOAL_P50 else "missed"
        out.append(Out(
            f"Latency at {lat.rate:g} task/s ({lat.sent} tasks, {len(lat.failures)} failed), milliseconds",
            ["measure", "tasks", "p50", "p95", "p99", "max"], rows,
            note=f"Goal: p50 below {GOAL_P50 * 1000:.0f} ms ({verdict}). Landing events are pushed by anvil "
                 f"({results.watch_mode}). Other processes on the machine used "
                 f"{machine_share(others(lat.cpu_window), lat.offered_end - lat.start):.0f} % of its CPU meanwhile, "
                 f"this network {machine_share(ours(lat.cpu_window), lat.offered_end - lat.start):.0f} %."))
    if results.steps:
        rows = []
        for p in results.steps:
            wall = p.wall()
            window = max(p.offered_end - p.start, 1e-9)
            last = max((t.landed for t in p.landed), default=p.start)
            overall = len(p.landed) / (last - p.start) if last > p.start else float("nan")
            rows.append([f"{p.rate:g}", f"{p.seconds:.0f}", str(p.sent), str(len(p.landed)),
                         f"{p.achieved(warmup_of(p)):.1f}", f"{overall:.1f}", ms(median(wall)),
                         ms(percentile(wall, 95)), ms(percentile(wall, 99)), ms(median(p.agg())),
                         str(len(p.failures)), str(p.sent - p.landed_at_offer_end),
                         f"{machine_share(ours(p.cpu_window), window):.0f} %",
                         f"{machine_share(others(p.cpu_window), window):.0f} %", "yes" if kept_up(p) else "no"])
        sustained = [p for p in results.steps if kept_up(p)]
        best = max((p.rate for p in sustained), default=0)
        top = max((p.achieved(warmup_of(p)) for p in results.steps), default=0)
        verdict = "met" if best >= GOAL_RATE else "missed"
        out.append(Out(
            "Sustained throughput (latencies in ms, sendTask call to landing event)",
            ["offered /s", "s", "sent", "landed", "achieved /s", "landed /s to the last", "p50", "p95", "p99",
             "p50 (aggregator clock)", "failures", "open at window end", "CPU: this network", "CPU: other processes",
             "kept up"], rows, left=0,
            note=f"Highest offered rate kept up: {best:g} tasks/s (goal {GOAL_RATE:g}: {verdict}); highest "
                 f"achieved rate in any step: {top:.1f}/s. Achieved = landings inside the offered window after "
                 f"a {warmup_of(results.steps[0]):g} s warm-up, per second; landed /s to the last = all the step's "
                 f"landings / (last landing - first sendTask). Kept up = achieved >= {KEEP_UP_SHARE:.0%} of "
                 f"offered, no failure, p95 < {KEEP_UP_P95:g} s. CPU = share of the machine's {os.cpu_count()} "
                 f"cores during the offered window, this network's processes vs everything else running on "
                 f"the machine (/proc/stat)."))
    phases = ([lat] if lat is not None else []) + results.steps
    if results.breakdown:
        names = [p.name for p in phases]
        rows = [[name] + [ms(results.breakdown[n][name] / 1000) for n in names] for name, _ in BREAKDOWN_ROWS]
        out.append(Out("Where the time goes: median ms per task (attester rows: per vote), by offered rate",
                       ["step"] + names, rows,
                       note="From the JSON logs' timestamps (1 ms resolution) and the bench's clock. The "
                            "aggregator submits as soon as 7 of the 10 equal stakes voted (> 2/3); its "
                            "'task.landed' comes after its receipt poll (every 50 ms), the bench's event "
                            "when the block is mined."))
        groups = [g for g in phases[0].cpu if g != MACHINE] if phases else []
        rows = []
        for g in groups:
            row = [g, f"{results.idle_cpu.get(g, 0):.1f} %"]
            for p in phases:
                row.append(f"{1000 * p.cpu[g] / max(1, len(p.landed)):.1f}")
            rows.append(row)
        total = ["total (this network)", f"{ours(results.idle_cpu):.1f} %"]
        for p in phases:
            total.append(f"{1000 * ours(p.cpu) / max(1, len(p.landed)):.1f}")
        rows.append(total)
        idle_others = others(results.idle_cpu) / (os.cpu_count() or 1)
        load = ["other processes on the machine (% of all cores)", f"{idle_others:.0f} %"]
        for p in phases:
            load.append(f"{machine_share(others(p.cpu), p.drained_at - p.start):.0f} %")
        rows.append(load)
        out.append(Out("CPU time per landed task (ms), by process and offered rate",
                       ["process", "idle (% of a core)"] + [p.name for p in phases], rows,
                       note="From /proc/<pid>/stat (all threads), from the first sendTask to the last landing of "
                            "each step, divided by the tasks landed; idle: the nodes' background work with no "
                            "task running. Last row: CPU used by processes outside this network (other users "
                            "of the machine) during the step, which competes with the network."))
    mem = results.memory
    if mem is not None and mem.samples:
        rows = []
        first = mem.samples[0]
        prev = first
        for s in mem.samples:
            dt = s["t"] - prev["t"]
            rate = (s["landed"] - prev["landed"]) / dt if dt > 0 else float("nan")
            tasks = s["landed"] - prev["landed"]
            per_task = (lambda key: f"{1000 * (s[key] - prev[key]) / tasks:.1f}" if tasks > 0 else "-")
            rows.append([f"{s['landed']:,}", f"{s['t'] - first['t']:.0f}", "-" if rate != rate else f"{rate:.1f}",
                         f"{s['aggregator']:.1f}", f"{s['aggregator'] - first['aggregator']:+.1f}",
                         str(s["in_flight"]), f"{s['attester']:.1f}", f"{s['services']:.1f}", f"{s['anvil']:.1f}",
                         per_task("aggregator_cpu"), per_task("anvil_cpu")])
            prev = s
        slope = _slope([(s["landed"], s["aggregator"]) for s in mem.samples if s["landed"] >= options_every(results)])
        out.append(Out(
            f"Aggregator memory over {mem.sent:,} tasks (VmRSS MiB; offered {results.memory_rate:g}/s, at most "
            f"{results.memory_in_flight} in flight; {len(mem.landed):,} landed, {len(mem.failures)} failed)",
            ["tasks landed", "s", "tasks/s", "aggregator", "change", "in flight", "an attester", "services",
             "anvil", "aggregator CPU ms/task", "anvil CPU ms/task"], rows, left=0,
            note=f"Aggregator growth after the first {options_every(results):,} tasks: {slope:+.2f} MiB per 1,000 "
                 f"tasks (least squares); goal: flat. The aggregator had already handled the earlier phases' "
                 f"tasks. CPU columns: since the previous sample, per task landed. Latency in this phase: p50 "
                 f"{ms(median(mem.wall()))} ms, p95 {ms(percentile(mem.wall(), 95))} ms."))
    for name, lists in results.profiles.items():
        n = max(1, results.tasks_total)
        for kind, what in (("own", "top functions by own time (epoll waits left out)"),
                           ("cumulative", "top othentic_offchain functions by cumulative time")):
            out.append(Out(
                f"cProfile of {name}, main thread: {what}, per landed task ({n:,} tasks)",
                ["function", "calls / task", "own ms / task", "cumulative ms / task"],
                [[where, f"{calls / n:.1f}", f"{own * 1000 / n:.2f}", f"{cum * 1000 / n:.2f}"]
                 for where, calls, own, cum in lists[kind]],
                note="Threads (asyncio.to_thread: BLS signing, SQLite, G2 additions) are not profiled; a "
                     "coroutine's cumulative time is its own steps' CPU, not the time it awaited. cProfile slows "
                     "the profiled nodes: take the other tables from a run without --profile."))
    return out


def ours(cpu: dict[str, float]) -> float:
    return sum(v for k, v in cpu.items() if k != MACHINE)


def others(cpu: dict[str, float]) -> float:
    return max(0.0, cpu.get(MACHINE, float("nan")) - ours(cpu))


def machine_share(cpu_s: float, seconds: float) -> float:
    """CPU seconds as a percentage of every core during ``seconds``."""
    return 100 * cpu_s / ((os.cpu_count() or 1) * max(seconds, 1e-9))


def options_every(results: Results) -> int:
    return results.options.memory_every


def _slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 1000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else float("nan")


def footer(results: Results) -> str:
    o = results.options
    counts = results.health.get("tasks") if isinstance(results.health, dict) else None
    stored = ", ".join(f"{n:,} {status}" for status, n in sorted(counts.items())) if counts else "unknown"
    return (f"Measured {results.machine}. Setup: {o.operators} operators (equal stakes), 1 services process, "
            f"1 aggregator (delay {o.aggregator_delay_ms:g} ms) and {o.operators} attesters as separate processes, "
            f"anvil automine, hardfork prague; setup took {results.setup_seconds:.0f} s. Aggregator's task store "
            f"at the end: {stored}.")


def print_rich(results: Results) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 180)
    for spec in tables(results):
        table = Table(title=spec.title, title_justify="left", caption=spec.note or None, caption_justify="left")
        for i, header in enumerate(spec.headers):
            table.add_column(header, justify="left" if i < spec.left else "right")
        for row in spec.rows:
            table.add_row(*row)
        console.print(table)
        console.print()
    console.print(footer(results))


def print_markdown(results: Results) -> None:
    for spec in tables(results):
        print(f"**{spec.title}**")
        print()
        print("| " + " | ".join(spec.headers) + " |")
        print("|" + "|".join("---" if i < spec.left else "---:" for i in range(len(spec.headers))) + "|")
        for row in spec.rows:
            print("| " + " | ".join(row) + " |")
        print()
        if spec.note:
            print(spec.note)
            print()
    print(footer(results))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables instead of rich tables")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (under 2 min): 8 s of latency, steps 5,10,20 of 5 s, 200 memory tasks")
    parser.add_argument("--operators", type=int, default=10, help="operators and attesters (default 10)")
    parser.add_argument("--latency-seconds", type=float, default=None, help="low-rate phase length (default 30)")
    parser.add_argument("--latency-rate", type=float, default=1.0, help="low rate, tasks/s (default 1)")
    parser.add_argument("--steps", default=None, help="offered rates, tasks/s (default 5,10,15,20,25)")
    parser.add_argument("--step-seconds", type=float, default=None, help="seconds per step (default 20)")
    parser.add_argument("--memory-tasks", type=int, default=None,
                        help="tasks of the memory phase (default 5000; 0: skip)")
    parser.add_argument("--memory-every", type=int, default=None,
                        help="VmRSS sample every N landed tasks (default 500)")
    parser.add_argument("--memory-rate", type=float, default=None,
                        help="offered rate of the memory phase (default: the highest step that kept up)")
    parser.add_argument("--aggregator-delay-ms", type=float, default=0.0,
                        help="the aggregator's --delay (wait for more votes after quorum; default 0)")
    parser.add_argument("--drain-timeout", type=float, default=90.0,
                        help="seconds to wait for a phase's last tasks to land (default 90)")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="keep deployment, databases and node logs here (default: a temporary folder, removed)")
    parser.add_argument("--keep-state", action="store_true", help="keep the temporary folder and print its path")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to SECONDS for the machine's CPU to be below 15 %% busy (shared machines)")
    parser.add_argument("--profile", action="store_true",
                        help="run the aggregator and one attester under cProfile and print their hottest functions "
                             "(slows those two nodes: the other tables of such a run are not the reference numbers)")
    args = parser.parse_args(argv)

    quick = args.quick
    options = Options(
        operators=args.operators,
        latency_rate=args.latency_rate,
        latency_seconds=args.latency_seconds if args.latency_seconds is not None else (8.0 if quick else 30.0),
        steps=tuple(float(x) for x in (args.steps or ("5,10,20" if quick else "5,10,15,20,25")).split(",") if x),
        step_seconds=args.step_seconds if args.step_seconds is not None else (5.0 if quick else 20.0),
        memory_tasks=args.memory_tasks if args.memory_tasks is not None else (200 if quick else 5000),
        memory_every=args.memory_every if args.memory_every is not None else (50 if quick else 500),
        memory_rate=args.memory_rate,
        idle_seconds=2.0 if quick else 5.0,
        drain_timeout=args.drain_timeout,
        aggregator_delay_ms=args.aggregator_delay_ms,
        state_dir=args.state_dir.resolve() if args.state_dir else None,
        keep_state=args.keep_state,
        profile=args.profile,
        wait_quiet=args.wait_quiet,
    )
    if options.operators < 4:
        parser.error("--operators must be at least 4")
    if options.memory_every < 1 or any(r <= 0 for r in options.steps) or options.latency_rate <= 0:
        parser.error("rates and --memory-every must be positive")

    def terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    started = time.perf_counter()
    try:
        results = run(options)
    except KeyboardInterrupt:
        say("interrupted: every process was stopped")
        return 130
    (print_markdown if args.markdown else print_rich)(results)
    if results.log_dir:
        print(f"\nNode logs: {results.log_dir}")
    say(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
