"""The performer node: runs tasks when triggered, signs them and hands them to the aggregator.

    node = PerformerNode(PerformerConfig(rpc_url, deployment, ecdsa_key,
                                         execution_url="http://127.0.0.1:4003",
                                         aggregator_url="http://127.0.0.1:8545",
                                         every_blocks=10, election="round-robin"))
    url = await node.start()
    outcome = await node.perform({"pair": "ETHUSDT"})     # on demand, from Python
    await node.stop()

One task, whatever started it:

1. **Election** (optional). With several operators running performers on the same trigger, each
   would send the same task. ``election="round-robin"`` or ``"stake"`` makes all of them compute
   the same leader for a block from the definition's members (:mod:`.election`; the stake draw is
   seeded with that block's hash) and only the leader performs; the others log ``not_elected``.
   The block is the trigger's own (the N-th block, the event's block) when it has one, so that
   every performer elects for the same block; otherwise the latest block.
2. **Execution**: ``POST /task/execute`` on the Execution Service with the definition id and the
   parameters (the configured ``params``, then the trigger's: ``trigger`` and what it knows).
3. **Signing**: ``TaskInfo(proofOfTask, data, own address, definition id)``; the ECDSA signature
   over its raw ``taskHash``, as Othentic performers sign.
4. **Sending**: the aggregator's JSON-RPC 2.0 ``sendTask`` with Othentic's positional params
   ``[proofOfTask, data (0x-hex), taskDefinitionId, performerAddress, signature (0x-hex)]``.

Triggers (any combination; on demand is always on):

* on demand: ``POST /performer/v1/trigger {"params": {...}}`` (answers the taskHash and the
  aggregator's answer) or :meth:`PerformerNode.perform`;
* ``every_seconds``: a fixed-rate timer; a tick missed while a task ran is skipped, not queued;
* ``every_blocks``: polls the block number; fires for block numbers divisible by N (the newest
  such block when several passed between two polls), so every performer fires at the same blocks;
* ``event``: polls ``eth_getLogs`` for one contract address and event topic; one task per log,
  with ``blockNumber``, ``blockHash``, ``transactionHash``, ``logIndex``, ``address``, ``topics``
  and ``data`` in the params;
* ``on_message``: ``POST /p2p/message {"data": "0x..."}`` (a custom message the aggregator
  forwards) starts a task with ``message`` in the params and answers at once (429 past 64 such
  tasks in flight).

A failure (service down, aggregator error, RPC hiccup) is logged with its reason, counted, and
recorded as the task's :class:`TaskOutcome`; trigger loops never stop because of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from pydantic import ValidationError

from othentic_offchain.avs.clients import ExecutionClient, ServiceError, ServiceUnavailable
from othentic_offchain.avs.models import CustomMessage, describe_validation_error, to_hex
from othentic_offchain.avs.runner import ServiceRunner
from othentic_offchain.chain.deploy import DeploymentRecord
from othentic_offchain.chain.rpc import RpcConnection
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.chain.view import ChainView
from othentic_offchain.nodes.common.lifecycle import NodeLifecycle
from othentic_offchain.nodes.common.observability import NodeMetrics, TaskLog
from othentic_offchain.nodes.common.protocol import HEALTH_PATH, MESSAGE_PATH, METRICS_PATH, ErrorBody, wire_task
from othentic_offchain.nodes.performer.election import round_robin, stake_weighted

__all__ = [
    "ELECTION_MODES",
    "TRIGGER_PATH",
    "EventTrigger",
    "PerformerConfig",
    "PerformerNode",
    "TaskOutcome",
    "AggregatorClient",
    "AggregatorError",
    "AggregatorUnavailable",
]

TRIGGER_PATH = "/performer/v1/trigger"
ELECTION_MODES = ("none", "round-robin", "stake")
_RESERVED_PARAMS = {"taskDefinitionId", "taskDefinitionID"}
_RECENT = 256
#: Custom messages start tasks in the background; past this many in flight they are refused (429).
_MAX_MESSAGE_TASKS = 64
_SNIPPET = 300


@dataclass(frozen=True)
class EventTrigger:
    """Perform on every log of ``topic`` (an event signature's topic 0) emitted by ``address``."""

    address: str
    topic: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", to_checksum_address(self.address))
        topic = self.topic
        if isinstance(topic, str):
            topic = bytes.fromhex(topic.removeprefix("0x"))
        if len(topic) != 32:
            raise ValueError(f"an event topic is 32 bytes (keccak of the event signature), got {len(topic)}")
        object.__setattr__(self, "topic", bytes(topic))

    @classmethod
    def from_signature(cls, address: str, signature: str) -> EventTrigger:
        """From the canonical signature, e.g. ``"Transfer(address,address,uint256)"``."""
        return cls(address, keccak(text=signature.replace(" ", "")))


@dataclass
class PerformerConfig:
    """One performer: its account, its Execution Service, the aggregator, the definition it
    performs and its triggers. ``params`` are passed to every execution (a trigger's own
    parameters override them)."""

    rpc_url: str
    deployment: DeploymentRecord
    ecdsa_key: str
    execution_url: str
    aggregator_url: str
    task_definition_id: int = 0
    election: str = "none"
    host: str = "127.0.0.1"
    port: int = 0
    name: str = "performer"
    params: dict[str, Any] = field(default_factory=dict)
    every_seconds: float | None = None
    every_blocks: int | None = None
    event: EventTrigger | None = None
    on_message: bool = False
    round_robin_period: int = 1
    poll_interval: float = 0.5
    execution_timeout: float = 30.0
    aggregator_timeout: float = 30.0
    chain_refresh: float = 0.5

    def __post_init__(self) -> None:
        if self.election not in ELECTION_MODES:
            raise ValueError(f"election must be one of {', '.join(ELECTION_MODES)}, got {self.election!r}")
        if not 0 <= int(self.task_definition_id) < 2**16:
            raise ValueError(f"task_definition_id must fit in uint16, got {self.task_definition_id}")
        if self.every_seconds is not None and not self.every_seconds > 0:
            raise ValueError(f"every_seconds must be positive, got {self.every_seconds}")
        if self.every_blocks is not None and self.every_blocks < 1:
            raise ValueError(f"every_blocks must be at least 1, got {self.every_blocks}")
        if self.round_robin_period < 1:
            raise ValueError(f"round_robin_period must be at least 1, got {self.round_robin_period}")
        if not self.poll_interval > 0:
            raise ValueError(f"poll_interval must be positive, got {self.poll_interval}")
        clash = _RESERVED_PARAMS & set(self.params)
        if clash:
            raise ValueError(f"params must not hold {', '.join(sorted(clash))}: set task_definition_id instead")

    @property
    def address(self) -> str:
        return Account.from_key(self.ecdsa_key).address

    @property
    def triggers(self) -> list[str]:
        """The triggers this configuration turns on (``demand`` always)."""
        kinds = ["demand"]
        if self.every_seconds is not None:
            kinds.append("seconds")
        if self.every_blocks is not None:
            kinds.append("blocks")
        if self.event is not None:
            kinds.append("event")
        if self.on_message:
            kinds.append("message")
        return kinds


@dataclass
class TaskOutcome:
    """What became of one trigger.

    ``status``: ``sent`` (the aggregator took it; ``aggregator_result`` is its answer),
    ``not_elected``, ``election_failed``, ``execution_failed``, ``aggregator_unavailable`` or
    ``aggregator_error`` (``error`` says why, ``error_code`` is the JSON-RPC code if any).
    """

    trigger: str
    params: dict[str, Any]
    status: str = "pending"
    block: int | None = None
    leader: int | None = None
    task: TaskInfo | None = None
    task_hash: bytes | None = None
    signature: bytes | None = None
    aggregator_result: Any = None
    error: str | None = None
    error_code: int | None = None
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    @property
    def sent(self) -> bool:
        return self.status == "sent"

    def to_wire(self) -> dict[str, Any]:
        """JSON-ready (hex bytes, camelCase names as the rest of the wire)."""
        body: dict[str, Any] = {
            "trigger": self.trigger,
            "status": self.status,
            "params": self.params,
            "block": self.block,
            "leader": self.leader,
        }
        if self.task is not None:
            body["task"] = wire_task(self.task).to_wire()
        if self.task_hash is not None:
            body["taskHash"] = to_hex(self.task_hash)
        if self.signature is not None:
            body["performerSignature"] = to_hex(self.signature)
        if self.status == "sent":
            body["aggregator"] = self.aggregator_result
        if self.error is not None:
            body["error"] = self.error
        if self.error_code is not None:
            body["errorCode"] = self.error_code
        return body


# -- the aggregator's JSON-RPC --------------------------------------------------------------------------


class AggregatorUnavailable(ConnectionError):
    """Nothing answered at the aggregator's URL (refused, reset, timed out)."""


class AggregatorError(RuntimeError):
    """The aggregator answered with a JSON-RPC error (``code``, ``message``, ``data``) or garbage."""

    def __init__(self, message: str, *, code: int | None = None, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class AggregatorClient:
    """JSON-RPC 2.0 over HTTP POST to an aggregator (ours or Othentic's), one request id per call."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"aggregator URL must start with http:// or https://, got {url!r}")
        self.url = url
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None

    async def call(self, method: str, params: list[Any]) -> Any:
        """The ``result`` of one call; raises :class:`AggregatorUnavailable` or :class:`AggregatorError`."""
        request_id = next(self._ids)
        payload = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(
                self.url, json=payload, timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as response:
                status = response.status
                raw = await response.read()
        except TimeoutError as exc:
            raise AggregatorUnavailable(
                f"aggregator at {self.url} did not answer {method} within {self.timeout:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise AggregatorUnavailable(
                f"aggregator at {self.url} is unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        text = raw.decode("utf-8", errors="replace")
        try:
            answer = json.loads(text)
        except ValueError:
            raise AggregatorError(
                f"aggregator at {self.url} answered HTTP {status} with a body that is not JSON: {text[:_SNIPPET]!r}"
            ) from None
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            error = answer["error"]
            code = error.get("code")
            raise AggregatorError(
                f"aggregator refused {method}: {error.get('message')} (code {code})",
                code=code if isinstance(code, int) else None,
                data=error.get("data"),
            )
        if status != 200 or not isinstance(answer, dict) or "result" not in answer:
            raise AggregatorError(
                f"aggregator at {self.url} answered HTTP {status} without a JSON-RPC result: {text[:_SNIPPET]!r}"
            )
        return answer["result"]

    async def send_task(self, task: TaskInfo, signature: bytes) -> Any:
        """Othentic's ``sendTask`` with its positional params."""
        return await self.call(
            "sendTask",
            [task.proof_of_task, to_hex(task.data), task.task_definition_id, task.performer, to_hex(signature)],
        )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()


# -- the node -------------------------------------------------------------------------------------------


class PerformerNode(NodeLifecycle):
    """One operator's performer: triggers, election, execution, signing, sending.

    ``app`` exists from construction; ``start`` connects to the chain (checking its id), binds the
    HTTP API and starts the configured trigger loops; ``stop`` cancels them and closes everything.
    """

    def __init__(self, config: PerformerConfig) -> None:
        self.config = config
        self.address = config.address
        self.chain_id = int(config.deployment.chain_id)
        self.operator_id: int | None = None
        self.url: str | None = None
        self.outcomes: deque[TaskOutcome] = deque(maxlen=_RECENT)

        self.metrics = NodeMetrics(config.name)
        self.task_outcomes = self.metrics.counter(
            "othentic_performer_tasks_total", "Triggered tasks by trigger and outcome", ["trigger", "status"]
        )
        self.execution_latency = self.metrics.histogram(
            "othentic_performer_execution_seconds", "Time the Execution Service took", ["outcome"]
        )
        self.aggregator_latency = self.metrics.histogram(
            "othentic_performer_send_seconds", "Time the aggregator took to answer sendTask", ["outcome"]
        )
        self.log = TaskLog(config.name, self.metrics)

        self.app = web.Application()
        self.app.router.add_post(TRIGGER_PATH, self._handle_trigger)
        self.app.router.add_post(MESSAGE_PATH, self._handle_message)
        self.app.router.add_get(HEALTH_PATH, self._handle_health)
        self.app.router.add_get(METRICS_PATH, self.metrics.handler)

        self._runner: ServiceRunner | None = None
        self._w3: Any = None
        self._rpc: RpcConnection | None = None
        self._chain: ChainView | None = None
        self._execution: ExecutionClient | None = None
        self._aggregator: AggregatorClient | None = None
        self._loops: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> str:
        """Connect, bind, start the trigger loops; returns the base URL of the HTTP API."""
        if self._runner is not None:
            raise RuntimeError("performer already started")
        config = self.config
        try:
            self._rpc = RpcConnection(config.rpc_url)
            self._w3 = await self._rpc.open(expect_chain_id=self.chain_id)
            self._chain = ChainView(self._w3, config.deployment, refresh_interval=config.chain_refresh)
            self.operator_id = (await self._chain.operator_id_of(self.address)) or None
            self._execution = ExecutionClient(config.execution_url, config.execution_timeout)
            self._aggregator = AggregatorClient(config.aggregator_url, config.aggregator_timeout)
            self._runner = ServiceRunner(self.app, config.host, config.port)
            self.url = await self._runner.start()
            start_block = int(await self._w3.eth.block_number)
            if config.every_seconds is not None:
                self._loops.append(asyncio.create_task(self._every_seconds(config.every_seconds)))
            if config.every_blocks is not None:
                self._loops.append(asyncio.create_task(self._every_blocks(config.every_blocks, start_block)))
            if config.event is not None:
                self._loops.append(asyncio.create_task(self._on_events(config.event, start_block)))
        except BaseException:
            await self._close()
            raise
        self.log.step(
            "node.started",
            url=self.url,
            performer=self.address,
            operator_id=self.operator_id,
            definition=config.task_definition_id,
            election=config.election,
            triggers=config.triggers,
        )
        return self.url

    async def stop(self) -> None:
        """Cancel the trigger loops and tasks in flight, stop serving, close the connections."""
        if self._runner is not None:
            self.log.step("node.stopping", url=self.url)
        await self._close()

    async def _close(self) -> None:
        pending = [*self._loops, *self._background]
        self._loops.clear()
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.stop()
        self.url = None
        for client in (self._execution, self._aggregator):
            if client is not None:
                await client.close()
        self._execution = self._aggregator = None
        if self._rpc is not None:
            await self._rpc.close()
            self._rpc = None
        self._w3 = None
        self._chain = None

    @property
    def last_outcome(self) -> TaskOutcome | None:
        return self.outcomes[-1] if self.outcomes else None

    # -- one task ---------------------------------------------------------------------------------

    async def perform(
        self, params: Mapping[str, Any] | None = None, *, trigger: str = "demand", block: int | None = None
    ) -> TaskOutcome:
        """Run one task now: elect, execute, sign, send. Never raises for a failure of the service,
        the aggregator or the chain: the returned outcome says what happened (and it is logged,
        counted and kept in :attr:`outcomes`). ``block`` is the block to elect for (default: the
        latest)."""
        if self._execution is None or self._aggregator is None or self._chain is None:
            raise RuntimeError("performer not started")
        merged = {**self.config.params, **dict(params or {})}
        clash = _RESERVED_PARAMS & set(merged)
        if clash:
            raise ValueError(f"params must not hold {', '.join(sorted(clash))}: the definition id is the node's")
        outcome = TaskOutcome(trigger=trigger, params=merged, block=block)
        self.log.step("task.triggered", trigger=trigger, block=block)
        try:
            await self._perform(outcome)
        finally:
            outcome.finished_at = time.time()
            self.outcomes.append(outcome)
            self.task_outcomes.labels(trigger=trigger, status=outcome.status).inc()
        return outcome

    async def _perform(self, outcome: TaskOutcome) -> None:
        config = self.config
        try:
            elected = await self._elect(outcome)
        except Exception as exc:
            return self._failed(outcome, "election_failed", f"{type(exc).__name__}: {exc}")
        if not elected:
            outcome.status = "not_elected"
            self.log.step(
                "task.not_elected",
                trigger=outcome.trigger,
                block=outcome.block,
                leader=outcome.leader,
                operator_id=self.operator_id,
            )
            return None

        assert self._execution is not None and self._aggregator is not None
        # The block the trigger fired (or the election was held) for, as the blocks trigger names it:
        # services whose validation re-runs the election (a beacon round) need it, and the head
        # moves on meanwhile.
        if outcome.block is not None:
            outcome.params.setdefault("blockNumber", outcome.block)
        asked = time.perf_counter()
        try:
            result = await self._execution.execute(config.task_definition_id, outcome.params)
        except (ServiceUnavailable, ServiceError) as exc:
            self.execution_latency.labels(outcome="error").observe(time.perf_counter() - asked)
            return self._failed(outcome, "execution_failed", str(exc))
        self.execution_latency.labels(outcome="ok").observe(time.perf_counter() - asked)
        task = TaskInfo(result.proof_of_task, result.data, self.address, config.task_definition_id)
        outcome.task = task
        outcome.task_hash = task.task_hash()
        self.log.step(
            "task.executed",
            outcome.task_hash,
            trigger=outcome.trigger,
            proof_of_task=task.proof_of_task,
            data_bytes=len(task.data),
            ms=round((time.perf_counter() - asked) * 1000, 1),
        )

        outcome.signature = task.sign(config.ecdsa_key)
        self.log.step("task.signed", outcome.task_hash)

        sent = time.perf_counter()
        try:
            outcome.aggregator_result = await self._aggregator.send_task(task, outcome.signature)
        except AggregatorUnavailable as exc:
            self.aggregator_latency.labels(outcome="unavailable").observe(time.perf_counter() - sent)
            return self._failed(outcome, "aggregator_unavailable", str(exc))
        except AggregatorError as exc:
            self.aggregator_latency.labels(outcome="error").observe(time.perf_counter() - sent)
            outcome.error_code = exc.code
            return self._failed(outcome, "aggregator_error", str(exc))
        self.aggregator_latency.labels(outcome="ok").observe(time.perf_counter() - sent)
        outcome.status = "sent"
        self.log.step(
            "task.sent",
            outcome.task_hash,
            trigger=outcome.trigger,
            aggregator=config.aggregator_url,
            ms=round((time.perf_counter() - sent) * 1000, 1),
        )
        return None

    def _failed(self, outcome: TaskOutcome, status: str, reason: str) -> None:
        outcome.status = status
        outcome.error = reason
        self.log.failure(status, outcome.task_hash, trigger=outcome.trigger, error=reason)

    async def _elect(self, outcome: TaskOutcome) -> bool:
        """Whether this operator performs at ``outcome.block`` (filled in with the latest block)."""
        mode = self.config.election
        if mode == "none":  # no chain read: a performer without election works while the RPC is down
            return True
        assert self._chain is not None and self._w3 is not None
        if outcome.block is None:
            outcome.block = int(await self._w3.eth.block_number)
        definition = await self._chain.definition(self.config.task_definition_id)
        self.operator_id = (await self._chain.operator_id_of(self.address)) or None
        if mode == "round-robin":
            outcome.leader = round_robin(list(definition.members), outcome.block, self.config.round_robin_period)
        else:
            block = await self._w3.eth.get_block(outcome.block)
            outcome.leader = stake_weighted(definition.members, bytes(block["hash"]))
        return outcome.leader == self.operator_id

    def _spawn(self, params: dict[str, Any], trigger: str, block: int | None = None) -> None:
        task = asyncio.create_task(self._guarded(params, trigger, block))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _guarded(self, params: dict[str, Any], trigger: str, block: int | None = None) -> None:
        """A trigger's run: whatever goes wrong is logged and counted, and the trigger lives on."""
        try:
            await self.perform(params, trigger=trigger, block=block)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.failure("trigger_error", trigger=trigger, error=f"{type(exc).__name__}: {exc}")

    # -- trigger loops ----------------------------------------------------------------------------

    async def _every_seconds(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            await self._guarded({"trigger": "seconds"}, "seconds")
            next_at += interval
            if next_at < loop.time():  # a task outran the period: skip the missed ticks
                missed = int((loop.time() - next_at) // interval) + 1
                next_at += missed * interval
                self.log.step("trigger.skipped", trigger="seconds", ticks=missed)

    async def _every_blocks(self, every: int, last: int) -> None:
        assert self._w3 is not None
        while True:
            await asyncio.sleep(self.config.poll_interval)
            try:
                latest = int(await self._w3.eth.block_number)
            except Exception as exc:
                self.log.failure("chain_unavailable", trigger="blocks", error=f"{type(exc).__name__}: {exc}")
                continue
            if latest <= last:
                continue
            target = latest - latest % every
            if target > last:
                await self._guarded({"trigger": "blocks", "blockNumber": target}, "blocks", target)
            last = latest

    async def _on_events(self, event: EventTrigger, start_block: int) -> None:
        assert self._w3 is not None
        next_block = start_block + 1
        while True:
            await asyncio.sleep(self.config.poll_interval)
            try:
                latest = int(await self._w3.eth.block_number)
                if latest < next_block:
                    continue
                logs = await self._w3.eth.get_logs(
                    {
                        "address": event.address,
                        "topics": [to_hex(event.topic)],
                        "fromBlock": next_block,
                        "toBlock": latest,
                    }
                )
            except Exception as exc:
                self.log.failure("chain_unavailable", trigger="event", error=f"{type(exc).__name__}: {exc}")
                continue
            next_block = latest + 1
            for log in logs:
                params = {"trigger": "event", **_log_params(log)}
                await self._guarded(params, "event", int(log["blockNumber"]))

    # -- HTTP -------------------------------------------------------------------------------------

    async def _handle_trigger(self, request: web.Request) -> web.Response:
        """On demand: run one task, answer its taskHash and the aggregator's answer."""
        raw = await request.read()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (UnicodeDecodeError, ValueError) as exc:
            return _error(400, "bad_request", f"body is not JSON: {exc}")
        if not isinstance(body, dict):
            return _error(
                400, "bad_request", f'body must be a JSON object {{"params": {{...}}}}, got {type(body).__name__}'
            )
        params = body.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            return _error(400, "bad_request", f"params: must be a JSON object, got {type(params).__name__}")
        clash = _RESERVED_PARAMS & set(params)
        if clash:
            return _error(
                400,
                "bad_request",
                f"params: must not hold {', '.join(sorted(clash))} (this performer "
                f"performs definition {self.config.task_definition_id})",
            )
        try:
            outcome = await self.perform(params, trigger="demand")
        except RuntimeError as exc:
            return _error(503, "not_started", str(exc))
        status, code = _HTTP_OF.get(outcome.status, (500, outcome.status))
        if status == 200:
            return web.json_response(outcome.to_wire())
        message = outcome.error or (
            f"operator {self.operator_id} is not elected at block {outcome.block} (leader: operator {outcome.leader})"
        )
        return web.json_response(
            {**ErrorBody(error=code, message=message).to_wire(), "outcome": outcome.to_wire()}, status=status
        )

    async def _handle_message(self, request: web.Request) -> web.Response:
        """A custom message (forwarded by the aggregator): start a task with it, answer at once."""
        raw = await request.read()
        try:
            message = CustomMessage.model_validate(json.loads(raw))
        except (UnicodeDecodeError, ValueError) as exc:
            detail = describe_validation_error(exc) if isinstance(exc, ValidationError) else f"body is not JSON: {exc}"
            return web.json_response({"data": None, "error": True, "message": detail}, status=400)
        if not self.config.on_message:
            return web.json_response(
                {"data": False, "error": False, "message": "custom messages do not trigger tasks on this performer"}
            )
        if len(self._background) >= _MAX_MESSAGE_TASKS:
            self.log.failure("busy", trigger="message", error=f"{len(self._background)} message tasks in flight")
            return web.json_response(
                {
                    "data": False,
                    "error": True,
                    "message": f"busy: {len(self._background)} tasks in flight, retry later",
                },
                status=429,
            )
        self.log.step("message.received", bytes=len(message.data))
        self._spawn({"trigger": "message", "message": to_hex(message.data)}, "message")
        return web.json_response({"data": True, "error": False, "message": "task triggered"})

    async def _handle_health(self, _request: web.Request) -> web.Response:
        block: int | None = None
        if self._w3 is not None:
            try:
                block = int(await self._w3.eth.block_number)
            except Exception:
                block = None
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        last = self.last_outcome
        return web.json_response(
            {
                "status": "ok" if block is not None else "degraded",
                "node": self.config.name,
                "address": self.address,
                "operatorId": self.operator_id,
                "chainId": self.chain_id,
                "block": block,
                "taskDefinitionId": self.config.task_definition_id,
                "election": self.config.election,
                "triggers": self.config.triggers,
                "executionUrl": self.config.execution_url,
                "aggregatorUrl": self.config.aggregator_url,
                "recentOutcomes": counts,
                "lastTask": last.to_wire() if last is not None else None,
            }
        )


#: HTTP answer of the on-demand trigger per outcome status.
_HTTP_OF = {
    "sent": (200, "sent"),
    "not_elected": (409, "not_elected"),
    "election_failed": (503, "election_failed"),
    "execution_failed": (502, "execution_failed"),
    "aggregator_unavailable": (503, "aggregator_unavailable"),
    "aggregator_error": (502, "aggregator_error"),
}


def _log_params(log: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "blockNumber": int(log["blockNumber"]),
        "blockHash": to_hex(bytes(log["blockHash"])),
        "transactionHash": to_hex(bytes(log["transactionHash"])),
        "logIndex": int(log["logIndex"]),
        "address": to_checksum_address(log["address"]),
        "topics": [to_hex(bytes(t)) for t in log["topics"]],
        "data": to_hex(bytes(log["data"])),
    }


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(ErrorBody(error=code, message=message).to_wire(), status=status)
