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
   parameters (the configured ``params``, then the trigger's: ``trigger`` and what it knows). A task
   with a block gets it as ``blockNumber``; with the operator's BLS key configured, also
   ``roundSignature``, the node's BLS signature over that round (:data:`~.config.ROUND_SIGNATURE_PARAM`).
3. **Signing**: ``TaskInfo(proofOfTask, data, own address, definition id)``; the ECDSA signature
   over its raw ``taskHash``, as Othentic performers sign.
4. **Keeping**: the signed task is written to the outbox (:mod:`.outbox`, SQLite) before it is
   sent, so a crash, a restart or an aggregator that is down loses nothing.
5. **Sending**: the aggregator's JSON-RPC 2.0 ``sendTask`` with Othentic's positional params
   ``[proofOfTask, data (0x-hex), taskDefinitionId, performerAddress, signature (0x-hex)]``, to
   the first of the configured aggregator URLs that takes it (:class:`~.aggregator.Aggregators`).
   A task no aggregator took, for a reason that may pass (nothing answered, busy, the aggregator's
   chain read failed), stays in the outbox and is retried in the background with backoff, until
   one takes it, one refuses it for good (recorded, not retried) or its deadline
   (``task_deadline``) passes. A node started on the same outbox file sends what was pending.

Triggers (any combination; on demand is always on): on demand, ``POST /performer/v1/trigger
{"params": {...}}`` (answers the taskHash and the aggregator's answer, or 202 ``queued`` when no
aggregator took the task at once) or :meth:`PerformerNode.perform`; a timer, every N blocks or a
contract event (:mod:`.triggers`); and, with ``on_message``,
``POST /p2p/message {"data": "0x..."}`` (a custom message the aggregator forwards), which starts a
task with ``message`` in the params and answers at once (429 past
:data:`~.triggers.MAX_MESSAGE_TASKS` such tasks in flight). Every task is signed by this
operator and a rejected one can cost it a penalty, so the trigger answers only the configured
``trusted_clients`` (default loopback; 403 ``untrusted_client`` otherwise), and a custom message
from elsewhere must be signed by an active operator (the headers of
:func:`~othentic_offchain.nodes.common.protocol.auth_headers`, timed, the body as the subject).

The configuration is :class:`~.config.PerformerConfig`, each task's record a
:class:`~.outcome.TaskOutcome`, the aggregator's client :class:`~.aggregator.AggregatorClient`.

A failure (service down, aggregator error, RPC hiccup) is logged with its reason, counted, and
recorded as the task's :class:`TaskOutcome`; trigger loops never stop because of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from eth_utils import keccak, to_checksum_address
from pydantic import ValidationError

from othentic_offchain import safejson
from othentic_offchain.avs.clients import ExecutionClient, ServiceError, ServiceUnavailable
from othentic_offchain.avs.models import CustomMessage, describe_validation_error, to_hex
from othentic_offchain.avs.runner import ServiceRunner
from othentic_offchain.chain.rpc import RpcConnection, rpc_deadline
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.chain.view import ChainView
from othentic_offchain.crypto.auth import PERFORMER_MESSAGE_TAG
from othentic_offchain.crypto.hashes import round_hash
from othentic_offchain.nodes.common.lifecycle import NodeLifecycle
from othentic_offchain.nodes.common.observability import NodeMetrics, TaskLog
from othentic_offchain.nodes.common.protocol import (
    HEALTH_PATH,
    MESSAGE_MAX_AGE,
    MESSAGE_PATH,
    METRICS_PATH,
    SIGNER_HEADER,
    TIMESTAMP_HEADER,
    Unauthenticated,
    authenticate,
    error_response,
    node_app,
)
from othentic_offchain.nodes.common.ratelimit import TrustedClients
from othentic_offchain.nodes.performer.aggregator import AggregatorError, Aggregators, AggregatorUnavailable
from othentic_offchain.nodes.performer.config import RESERVED_PARAMS, ROUND_SIGNATURE_PARAM, PerformerConfig
from othentic_offchain.nodes.performer.election import round_robin, stake_weighted
from othentic_offchain.nodes.performer.outbox import Outbox, OutboxEntry
from othentic_offchain.nodes.performer.outcome import HTTP_STATUS, TaskOutcome
from othentic_offchain.nodes.performer.triggers import MAX_MESSAGE_TASKS, every_blocks, every_seconds, on_events

__all__ = ["TRIGGER_PATH", "PerformerNode"]

TRIGGER_PATH = "/performer/v1/trigger"
_RECENT = 256


#: Seconds the health answer waits for the chain before saying it is unreachable.
_HEALTH_PROBE_TIMEOUT = 2.0


class PerformerNode(NodeLifecycle):
    """One operator's performer: triggers, election, execution, signing, sending.

    ``app`` exists from construction; ``start`` connects to the chain (checking its id), binds the
    HTTP API and starts the configured trigger loops; ``stop`` cancels them and closes everything.
    """

    def __init__(self, config: PerformerConfig) -> None:
        self.config = config
        self.address = config.address
        self.chain_id = int(config.deployment.chain_id)
        self.attestation_center = to_checksum_address(config.deployment.attestation_center)
        self._trusted = TrustedClients(config.trusted_clients)
        self._seen_messages = SeenMessages(2 * MESSAGE_MAX_AGE)
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
            "othentic_performer_send_seconds", "Time the aggregators took to answer sendTask", ["outcome"]
        )
        self.send_retries = self.metrics.counter(
            "othentic_performer_send_retries_total", "Delivery rounds of a task after its first (from the outbox)"
        )
        self.outbox_settled = self.metrics.counter(
            "othentic_performer_outbox_total", "Outbox entries settled, by how", ["status"]
        )
        self.outbox_pending = self.metrics.gauge(
            "othentic_performer_outbox_pending", "Signed tasks in the outbox that no aggregator took yet"
        )
        self.log = TaskLog(config.name, self.metrics)

        self.app = node_app()
        self.app.router.add_post(TRIGGER_PATH, self._handle_trigger)
        self.app.router.add_post(MESSAGE_PATH, self._handle_message)
        self.app.router.add_get(HEALTH_PATH, self._handle_health)
        self.app.router.add_get(METRICS_PATH, self.metrics.handler)

        self._runner: ServiceRunner | None = None
        self._w3: Any = None
        self._rpc: RpcConnection | None = None
        self._chain: ChainView | None = None
        self._execution: ExecutionClient | None = None
        self._aggregator: Aggregators | None = None
        self._outbox: Outbox | None = None
        self._loops: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()
        self._sending: set[bytes] = set()  # task hashes a delivery round is under way for
        self._queued: dict[bytes, TaskOutcome] = {}  # outcomes of this run's queued tasks, by hash
        self._followers: dict[bytes, list[TaskOutcome]] = {}  # the same task triggered again meanwhile
        self._wake = asyncio.Event()  # the delivery loop: look at the outbox now
        self._failing = 0  # delivery rounds in a row that no aggregator took (0: the last one was taken)

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> str:
        """Connect, bind, start the trigger loops; returns the base URL of the HTTP API."""
        if self._runner is not None:
            raise RuntimeError("performer already started")
        config = self.config
        try:
            self._rpc = RpcConnection(config.rpc_url, registry=self.metrics.registry)
            self._w3 = await self._rpc.open(expect_chain_id=self.chain_id)
            self._chain = ChainView(self._w3, config.deployment, refresh_interval=config.chain_refresh)
            self.operator_id = (await self._chain.operator_id_of(self.address)) or None
            self._execution = ExecutionClient(config.execution_url, config.execution_timeout)
            self._aggregator = Aggregators(config.aggregator_urls, config.aggregator_timeout)
            self._outbox = await asyncio.to_thread(Outbox, config.outbox_file, self.attestation_center, self.chain_id)
            await asyncio.to_thread(self._outbox.due_now)  # what a previous run left pending goes first
            self._runner = ServiceRunner(self.app, config.host, config.port)
            self.url = await self._runner.start()
            start_block = int(await self._w3.eth.block_number)
            self._start_triggers(start_block)
            self._loops.append(asyncio.create_task(self._delivery_loop()))
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
            aggregators=list(config.aggregator_urls),
            outbox=str(self._outbox.path),
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
        outbox, self._outbox = self._outbox, None
        if outbox is not None:
            await asyncio.to_thread(outbox.close)
        self._sending.clear()
        self._queued.clear()
        self._followers.clear()
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
        latest). A task no aggregator took yet is ``queued``: it is sent from the outbox later, and
        the returned outcome is updated when it is settled."""
        if self._execution is None or self._aggregator is None or self._chain is None:
            raise RuntimeError("performer not started")
        merged = {**self.config.params, **dict(params or {})}
        clash = RESERVED_PARAMS & set(merged)
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
            if config.bls is not None:
                outcome.params[ROUND_SIGNATURE_PARAM] = self.round_signature(outcome.block)
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

        # Bound to this deployment's center and chain: it lands nowhere else, so nobody can replay it
        # on another AVS where this address is an operator (docs/decisions/0007-performer-signature-domain.md).
        outcome.signature = task.sign(config.ecdsa_key, config.deployment.attestation_center, self.chain_id)
        self.log.step("task.signed", outcome.task_hash)

        assert self._outbox is not None
        if outcome.task_hash in self._sending:
            # The same task (an identical execution) is on its way already: that delivery settles
            # both; the outbox keeps it until the later of their deadlines.
            try:
                await asyncio.to_thread(
                    self._outbox.add, task, outcome.signature, outcome.trigger, time.time() + config.task_deadline
                )
            except Exception as exc:
                return self._failed(
                    outcome, "outbox_failed", f"the outbox {self._outbox.path} could not keep it: {exc}"
                )
            outcome.status = "queued"
            self._followers.setdefault(outcome.task_hash, []).append(outcome)
            return None
        self._sending.add(outcome.task_hash)  # claimed: the delivery loop leaves it to this call
        try:
            deadline = time.time() + config.task_deadline
            try:  # kept before it is sent: from here on, a crash or a dead aggregator loses nothing
                entry = await asyncio.to_thread(self._outbox.add, task, outcome.signature, outcome.trigger, deadline)
            except Exception as exc:
                reason = f"the outbox {self._outbox.path} could not keep it: {exc}"
                return self._failed(outcome, "outbox_failed", reason)
            self.log.step("task.kept", outcome.task_hash, outbox=str(self._outbox.path))
            self._queued[entry.task_hash] = outcome
            outcome.status = "queued"
            await self._deliver(entry)
        finally:
            self._sending.discard(outcome.task_hash)
        return None

    # -- the outbox -------------------------------------------------------------------------------

    async def _deliver(self, entry: OutboxEntry) -> str:
        """One delivery round of an outbox entry over the aggregators; what became of it:
        ``accepted``, ``refused``, ``expired`` or ``retry`` (it stays pending, due again later).
        The caller has claimed the entry (its hash is in ``_sending``): one round at a time."""
        assert self._aggregator is not None and self._outbox is not None
        outbox, task_hash, config = self._outbox, entry.task_hash, self.config
        outcome = self._queued.get(task_hash)
        if time.time() >= entry.deadline:
            reason = f"no aggregator took it before its deadline ({config.task_deadline:g} s): {entry.error}"
            await asyncio.to_thread(outbox.expired, task_hash, reason)
            self.outbox_settled.labels(status="expired").inc()
            self._settle(task_hash, "expired", error=reason, code=entry.error_code)
            self.log.failure("expired", task_hash, trigger=entry.trigger, attempts=entry.attempts, error=reason)
            return "expired"
        if entry.attempts:
            self.send_retries.inc()
        sent = time.perf_counter()
        try:
            url, answer = await self._aggregator.send_task(entry.task, entry.signature)
        except AggregatorUnavailable as exc:
            self.aggregator_latency.labels(outcome="unavailable").observe(time.perf_counter() - sent)
            self._failing += 1
            when = min(time.time() + self._backoff(), entry.deadline)
            attempts = await asyncio.to_thread(outbox.retry_at, task_hash, when, str(exc), exc.code)
            if outcome is not None:
                outcome.error, outcome.error_code, outcome.attempts = str(exc), exc.code, attempts
            self.log.failure(
                "aggregator_unavailable",
                task_hash,
                trigger=entry.trigger,
                attempts=attempts,
                retry_in=round(when - time.time(), 2),
                error=str(exc),
            )
            self._wake.set()  # the delivery loop takes it from here
            return "retry"
        except AggregatorError as exc:
            self.aggregator_latency.labels(outcome="error").observe(time.perf_counter() - sent)
            self._failing = 0  # an aggregator answered
            refusal = str(exc)
            await asyncio.to_thread(outbox.refused, task_hash, exc.url or "", refusal, exc.code)
            self.outbox_settled.labels(status="refused").inc()
            self._settle(task_hash, "aggregator_error", aggregator=exc.url, error=refusal, code=exc.code)
            self.log.failure("aggregator_error", task_hash, trigger=entry.trigger, code=exc.code, error=refusal)
            return "refused"
        self.aggregator_latency.labels(outcome="ok").observe(time.perf_counter() - sent)
        await asyncio.to_thread(outbox.accepted, task_hash, url, answer)
        self.outbox_settled.labels(status="accepted").inc()
        if self._failing:  # the aggregators are back: what waits in the outbox goes now, not after its backoff
            self._failing = 0
            await asyncio.to_thread(outbox.due_now)
            self._wake.set()
        self._settle(task_hash, "sent", aggregator=url, answer=answer)
        self.log.step(
            "task.sent",
            task_hash,
            trigger=entry.trigger,
            aggregator=url,
            attempts=entry.attempts + 1,
            ms=round((time.perf_counter() - sent) * 1000, 1),
        )
        return "accepted"

    def _settle(
        self,
        task_hash: bytes,
        status: str,
        *,
        aggregator: str | None = None,
        answer: Any = None,
        error: str | None = None,
        code: int | None = None,
    ) -> None:
        """The outcomes of a settled entry (if this run triggered it) say how it was settled."""
        outcomes = [self._queued.pop(task_hash, None), *self._followers.pop(task_hash, [])]
        for outcome in outcomes:
            if outcome is None:
                continue
            outcome.status, outcome.aggregator, outcome.aggregator_result = status, aggregator, answer
            outcome.error, outcome.error_code = error, code
            if outcome.finished_at is not None:  # settled from the outbox, after perform() returned
                outcome.finished_at = time.time()
                self.task_outcomes.labels(trigger=outcome.trigger, status=status).inc()

    def _backoff(self) -> float:
        """Seconds until the next round after ``_failing`` failed rounds in a row."""
        config = self.config
        return min(config.retry_backoff_max, config.retry_backoff * 2 ** min(self._failing - 1, 32))

    async def _delivery_loop(self) -> None:
        """Send what waits in the outbox when it is due: oldest first; after a round no aggregator
        took, the rest wait for the backoff (the others would fail the same way)."""
        assert self._outbox is not None
        outbox = self._outbox
        while True:
            self._wake.clear()
            try:
                for due in await asyncio.to_thread(outbox.due, time.time()):
                    if due.task_hash in self._sending:
                        continue
                    self._sending.add(due.task_hash)
                    try:
                        # Read again once claimed: the trigger's own round may have settled it meanwhile.
                        entry = await asyncio.to_thread(outbox.get, due.task_hash)
                        result = "settled" if entry is None or not entry.pending else await self._deliver(entry)
                    finally:
                        self._sending.discard(due.task_hash)
                    if result == "retry":
                        break
                pending, _oldest = await asyncio.to_thread(outbox.depth)
                self.outbox_pending.set(pending)
                next_due = await asyncio.to_thread(outbox.next_due)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a disk error: say so, try again later
                self.log.failure("outbox_error", error=f"{type(exc).__name__}: {exc}")
                next_due = time.time() + self.config.retry_backoff_max
            if self._failing:
                next_due = max(next_due or 0.0, time.time() + self._backoff())
            timeout = None if next_due is None else max(0.0, next_due - time.time())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def round_signature(self, block: int) -> str:
        """This operator's BLS signature over its round ``block`` of this definition (0x-hex x || y)."""
        assert self.config.bls is not None
        digest = round_hash(
            self.config.deployment.attestation_center, self.chain_id, self.config.task_definition_id, block
        )
        point = self.config.bls.sign(digest)
        return to_hex(point.x.to_bytes(32, "big") + point.y.to_bytes(32, "big"))

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

    def _start_triggers(self, start_block: int) -> None:
        config, fire, log = self.config, self._guarded, self.log
        loops = []
        if config.every_seconds is not None:
            loops.append(every_seconds(config.every_seconds, fire, log))
        if config.every_blocks is not None:
            loops.append(
                every_blocks(
                    self._w3, config.every_blocks, start_block, config.poll_interval, fire, log, config.confirmations
                )
            )
        if config.event is not None:
            loops.append(
                on_events(self._w3, config.event, start_block, config.poll_interval, fire, log, config.confirmations)
            )
        self._loops.extend(asyncio.create_task(loop) for loop in loops)

    async def _guarded(self, params: dict[str, Any], trigger: str, block: int | None = None) -> None:
        """A trigger's run: whatever goes wrong is logged and counted, and the trigger lives on."""
        try:
            await self.perform(params, trigger=trigger, block=block)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.failure("trigger_error", trigger=trigger, error=f"{type(exc).__name__}: {exc}")

    # -- HTTP -------------------------------------------------------------------------------------

    async def _handle_trigger(self, request: web.Request) -> web.Response:
        """On demand: run one task, answer its taskHash and the aggregator's answer. Only from a
        trusted client address: every task is signed by this operator and can cost it a penalty."""
        if request.remote not in self._trusted:
            return error_response(
                403,
                "untrusted_client",
                f"tasks are triggered on demand only from this performer's trusted clients, not from {request.remote}",
            )
        raw = await request.read()
        try:
            body = safejson.loads(raw) if raw.strip() else {}
        except (UnicodeDecodeError, ValueError) as exc:
            return error_response(400, "bad_request", f"body is not JSON: {exc}")
        if not isinstance(body, dict):
            return error_response(
                400, "bad_request", f'body must be a JSON object {{"params": {{...}}}}, got {type(body).__name__}'
            )
        params = body.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            return error_response(400, "bad_request", f"params: must be a JSON object, got {type(params).__name__}")
        clash = RESERVED_PARAMS & set(params)
        if clash:
            return error_response(
                400,
                "bad_request",
                f"params: must not hold {', '.join(sorted(clash))} (this performer "
                f"performs definition {self.config.task_definition_id})",
            )
        try:
            outcome = await self.perform(params, trigger="demand")
        except RuntimeError as exc:
            return error_response(503, "not_started", str(exc))
        status, code = HTTP_STATUS.get(outcome.status, (500, outcome.status))
        if status < 300:  # sent, or queued: kept in the outbox and retried, nothing to do for the client
            return web.json_response(outcome.to_wire(), status=status)
        message = outcome.error or (
            f"operator {self.operator_id} is not elected at block {outcome.block} (leader: operator {outcome.leader})"
        )
        return error_response(status, code, message, outcome=outcome.to_wire())

    async def _handle_message(self, request: web.Request) -> web.Response:
        """A custom message (forwarded by the aggregator): start a task with it, answer at once.
        Unsigned only from a trusted client address; from anywhere else signed, as the aggregator
        signs what it relays, by an active operator (a fresh timestamp, the body as the subject)."""
        raw = await request.read()
        refused = await self._refuse_message(request, raw)
        if refused is not None:
            return refused
        try:
            message = CustomMessage.model_validate(safejson.loads(raw))
        except (UnicodeDecodeError, ValueError) as exc:
            detail = describe_validation_error(exc) if isinstance(exc, ValidationError) else f"body is not JSON: {exc}"
            return web.json_response({"data": None, "error": True, "message": detail}, status=400)
        if not self.config.on_message:
            return web.json_response(
                {"data": False, "error": False, "message": "custom messages do not trigger tasks on this performer"}
            )
        if len(self._background) >= MAX_MESSAGE_TASKS:
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

    async def _refuse_message(self, request: web.Request, raw: bytes) -> web.Response | None:
        """The answer refusing a custom message its sender may not send, or None."""
        if request.remote in self._trusted and SIGNER_HEADER not in request.headers:
            return None
        if len(self._background) >= MAX_MESSAGE_TASKS:  # before any ecrecover: a flood costs little
            return _envelope(429, f"busy: {len(self._background)} tasks in flight, retry later")
        try:
            signer = authenticate(
                request.headers, PERFORMER_MESSAGE_TAG, self.chain_id, self.attestation_center, keccak(raw), timed=True
            )
        except Unauthenticated as exc:
            return _envelope(401, f"{exc} (unsigned messages are taken from trusted clients only)")
        if self._chain is None or not await self._chain.active_operator_of(signer):
            return _envelope(403, f"the signer {signer} is not an active operator")
        # keyed by the signed values: the timestamp as a number ("0123" is 123, the same signature)
        if not self._seen_messages.first(signer, int(request.headers[TIMESTAMP_HEADER]), keccak(raw)):
            return _envelope(409, "this signed message was received already: a message triggers one task")
        return None

    async def _handle_health(self, _request: web.Request) -> web.Response:
        block: int | None = None
        if self._w3 is not None:
            try:
                with rpc_deadline(_HEALTH_PROBE_TIMEOUT):  # an outage answers "degraded" now, not later
                    block = int(await self._w3.eth.block_number)
            except Exception:
                block = None
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        last = self.last_outcome
        outbox: dict[str, Any] | None = None
        if self._outbox is not None:
            try:
                pending, oldest = await asyncio.to_thread(self._outbox.depth)
            except Exception as exc:
                outbox = {"path": str(self._outbox.path), "error": f"{type(exc).__name__}: {exc}"}
            else:
                self.outbox_pending.set(pending)
                outbox = {
                    "path": str(self._outbox.path),
                    "pending": pending,
                    "oldestPendingSeconds": None if oldest is None else round(max(0.0, time.time() - oldest), 3),
                    "failingRounds": self._failing,
                }
        # Degraded: no chain, or signed tasks waiting that the last round could not hand to any aggregator.
        stuck = outbox is not None and (outbox.get("error") or (outbox.get("pending") and self._failing))
        return web.json_response(
            {
                "status": "ok" if block is not None and not stuck else "degraded",
                "node": self.config.name,
                "address": self.address,
                "operatorId": self.operator_id,
                "chainId": self.chain_id,
                "block": block,
                "taskDefinitionId": self.config.task_definition_id,
                "election": self.config.election,
                "triggers": self.config.triggers,
                "executionUrl": self.config.execution_url,
                "aggregatorUrls": list(self.config.aggregator_urls),
                "outbox": outbox,
                "recentOutcomes": counts,
                "lastTask": last.to_wire() if last is not None else None,
            }
        )


def _envelope(status: int, message: str) -> web.Response:
    """A refusal of ``POST /p2p/message`` in the services' envelope, as its other answers are."""
    return web.json_response({"data": None, "error": True, "message": message}, status=status)


class SeenMessages:
    """The signed messages received in the last ``window`` seconds (twice the freshness window of
    their timestamps): a message replayed while its timestamp is still fresh is recognised."""

    def __init__(self, window: float, limit: int = 10_000) -> None:
        self.window = window
        self.limit = limit
        self._seen: dict[tuple[str, int, bytes], float] = {}

    def first(self, signer: str, timestamp: int, body_hash: bytes) -> bool:
        """Whether this is the first time the message is seen (it is remembered from now on)."""
        now = time.monotonic()
        if len(self._seen) >= self.limit:
            self._seen = {key: at for key, at in self._seen.items() if now - at < self.window}
            while len(self._seen) >= self.limit:  # all fresh: forget the oldest
                del self._seen[next(iter(self._seen))]
        key = (signer, timestamp, body_hash)
        if key in self._seen and now - self._seen[key] < self.window:
            return False
        self._seen[key] = now
        return True
