"""The throughput bench's performer: it builds, signs and sends tasks at a given rate and sees
them land.

A :class:`LoadGenerator` sends ``sendTask`` over one keep-alive aiohttp session and learns of each
landing from an ``eth_subscribe`` logs subscription on anvil (polling ``eth_getLogs`` if the
subscription fails), so following tasks costs the aggregator nothing while they run; each
:class:`Phase` (an offered rate for a number of tasks) records a :class:`Track` per task.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from throughput_machine import say

from othentic_offchain.chain.abi import event_topic
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.devnet.stats import percentile
from othentic_offchain.jsonrpc import JsonRpcClient

DEFINITION = 0
KEEP_UP_SHARE = 0.95
KEEP_UP_P95 = 2.0


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


def warmup_of(phase: Phase) -> float:
    return min(2.0, phase.seconds / 4)


def kept_up(phase: Phase) -> bool:
    return (
        phase.achieved(warmup_of(phase)) >= KEEP_UP_SHARE * phase.rate
        and not phase.failures
        and percentile(phase.wall(), 95) < KEEP_UP_P95
    )


class LoadGenerator:
    """Sends the tasks of each phase and follows them; ``net`` is the bench's ``Network``
    (``throughput.py``): its aggregator, anvil, AttestationCenter and chain, performer and CPU snapshots."""

    def __init__(self, net: Any, run_id: str, drain_timeout: float):
        self.net = net
        self.run_id = run_id
        self.drain_timeout = drain_timeout
        self.tracks: dict[bytes, Track] = {}
        self.topics = {
            "0x" + event_topic("IAttestationCenter", "TaskSubmitted").hex(): True,
            "0x" + event_topic("IAttestationCenter", "TaskRejected").hex(): False,
        }
        self.counter = 0
        self.landed_total = 0
        self.changed = asyncio.Event()
        self.on_landed = None  # callback(track) for the memory phase
        self.watch_mode = "eth_subscribe(logs)"

    async def __aenter__(self) -> LoadGenerator:
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=10), timeout=aiohttp.ClientTimeout(total=60)
        )
        self.aggregator = JsonRpcClient(self.net.aggregator_url, session=self.session, timeout=60)
        self.anvil_url = self.net.anvil.rpc_url
        self.chain = JsonRpcClient(self.anvil_url, session=self.session, timeout=60)
        self._ws_ready = asyncio.Event()
        self.watcher = asyncio.create_task(self._watch(), name="landing-watcher")
        await asyncio.wait_for(self._ws_ready.wait(), 30)
        return self

    async def __aexit__(self, *exc) -> None:
        self.watcher.cancel()
        await asyncio.gather(self.watcher, return_exceptions=True)
        await self.session.close()

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
        ws_url = "ws" + self.anvil_url[len("http") :]
        last_block = int(await self.chain.call("eth_blockNumber", []), 16)
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
                head = int(await self.chain.call("eth_blockNumber", []), 16)
                if head >= last_block:
                    logs = await self.chain.call(
                        "eth_getLogs", [{**flt, "fromBlock": hex(last_block), "toBlock": hex(head)}]
                    )
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
        self.counter += 1
        proof = f"throughput {self.run_id} task {self.counter}"
        task = TaskInfo(proof, hashlib.sha256(proof.encode()).digest(), self.net.performer, DEFINITION)
        return task, task.sign(self.net.performer_key, self.net.center, self.net.chain_id), task.task_hash()

    async def _send(self, track: Track, params: list) -> None:
        try:
            answer = await self.aggregator.call("sendTask", params)
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
                    outstanding = sum(1 for t in phase.tracks[-max_in_flight * 2 :] if not t.done)
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
                    status = await self.aggregator.call("taskStatus", ["0x" + track.task_hash.hex()])
                except Exception as exc:
                    track.status = f"taskStatus failed: {exc}"
                    return
            track.status = status.get("status")
            track.created_at = status.get("createdAt")
            track.finished_at = status.get("finishedAt")
            if status.get("status") == "failed":
                track.error = status.get("error") or "failed"

        await asyncio.gather(*(one(t) for t in tracks))
