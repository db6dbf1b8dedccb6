"""The aggregator node: takes tasks over JSON-RPC, collects the attesters' votes, lands the tasks.

    node = AggregatorNode(AggregatorConfig(rpc_url, deployment, ecdsa_key, db_path="agg.sqlite3",
                                           attesters={3: "http://10.0.0.3:9000"}))
    url = await node.start()          # JSON-RPC 2.0 on POST {url}/ and {url}/rpc
    ...
    await node.stop()

The parts, one module each:

* :mod:`~othentic_offchain.nodes.aggregator.api`: the JSON-RPC methods (``sendTask``,
  ``sendCustomMessage``, ``taskStatus``, ``health``) with their parameters in
  :mod:`~othentic_offchain.nodes.aggregator.params`;
* :mod:`~othentic_offchain.nodes.aggregator.store`: the task store, written before each step;
* :mod:`~othentic_offchain.nodes.aggregator.collect`: asking the attesters, until a quorum;
* :mod:`~othentic_offchain.nodes.aggregator.submit`: aggregation, simulation, bisection of bad
  votes, the transaction and its receipt;
* :mod:`~othentic_offchain.nodes.aggregator.recovery`: what a restart finishes first;
* :mod:`~othentic_offchain.nodes.aggregator.turns`: with several aggregators listed on-chain,
  forwarding tasks to the others and waiting for this node's turn before submitting.

A task's life, each step stored before the step it enables:

1. ``accepted``, then ``collecting``: votes are requested and counted until one side reaches the
   contract's threshold; a task that never does within ``task_timeout`` fails with ``no_quorum``.
   With aggregators listed on-chain, the node then waits for its turn (a task that lands
   meanwhile is marked landed, with no transaction of ours).
2. ``submitting``: the signed transaction's bytes, hash and nonce are stored, then broadcast.
3. ``landed`` (task number from the ``TaskSubmitted``/``TaskRejected`` event or the on-chain
   ``taskRecord``) or ``failed`` (reason). A landed task is *final* once its block is deep enough
   (:mod:`~othentic_offchain.nodes.aggregator.finality`); a reorganisation before that opens it again. A submission that did not go through is retried
   (after a refresh of the cached chain state) up to ``submit_retries`` times.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from othentic_offchain.chain.receipts import ReceiptWatcher
from othentic_offchain.chain.rpc import RpcConnection, sync_web3
from othentic_offchain.chain.sender import AsyncTxSender, ErrorDecoder
from othentic_offchain.chain.view import ChainView, DefinitionView, SharedReads, UnknownDefinition
from othentic_offchain.crypto.bn254 import G1Point
from othentic_offchain.crypto.verify import PrecompileBackend
from othentic_offchain.httpguard import GuardedAppRunner
from othentic_offchain.jsonrpc import ApplicationError, JsonRpcServer
from othentic_offchain.nodes.aggregator.api import AggregatorApi
from othentic_offchain.nodes.aggregator.collect import VoteCollector
from othentic_offchain.nodes.aggregator.config import CHAIN_UNAVAILABLE, AggregatorConfig
from othentic_offchain.nodes.aggregator.discovery import AttesterDirectory
from othentic_offchain.nodes.aggregator.finality import FinalityWatcher
from othentic_offchain.nodes.aggregator.metrics import AggregatorMetrics
from othentic_offchain.nodes.aggregator.outcomes import TaskOutcomes
from othentic_offchain.nodes.aggregator.recovery import Recovery
from othentic_offchain.nodes.aggregator.rows import TaskStatus
from othentic_offchain.nodes.aggregator.store import TasksDB
from othentic_offchain.nodes.aggregator.submit import Submitter
from othentic_offchain.nodes.aggregator.turns import Forwarder, TurnKeeper
from othentic_offchain.nodes.aggregator.work import Recollect, Retry, TaskWork
from othentic_offchain.nodes.common.lifecycle import NodeLifecycle
from othentic_offchain.nodes.common.observability import NodeMetrics, TaskLog
from othentic_offchain.nodes.common.protocol import node_app

__all__ = ["AggregatorNode"]

logger = logging.getLogger("othentic.aggregator")

#: The custom errors the aggregator decodes from reverts.
_ERROR_SOURCES = ("IAttestationCenter", "BN254", "RewardsVault", "PenaltyManager")

_T = TypeVar("_T")


class AggregatorNode(NodeLifecycle):
    """One aggregator: the JSON-RPC app, the task store, the fan-out and the submissions.

    ``app`` exists from construction; ``start`` opens the store, connects to the chain (checking its
    id), finishes what a previous run left open and binds the port; ``stop`` cancels the work in
    progress (the store keeps it for the next start) and closes everything.
    """

    def __init__(self, config: AggregatorConfig):
        self.config = config
        self.address = config.address
        self.url: str | None = None
        self.chain_id = int(config.deployment.chain_id)
        self.metrics = NodeMetrics(config.name)
        self.log = TaskLog(config.name, self.metrics)
        self.counters = AggregatorMetrics(self.metrics)
        self.reads = SharedReads()

        self.rpc = JsonRpcServer(
            max_request_bytes=config.max_request_bytes, max_batch=config.max_batch, name=config.name
        )
        self.app = node_app()
        self.api = AggregatorApi(self)
        self.api.install(self.rpc, self.app)

        # Made by start().
        self.db: TasksDB | None = None
        self.w3: Any = None
        self.chain: ChainView | None = None
        self.sender: AsyncTxSender | None = None
        self.directory: AttesterDirectory | None = None
        self.receipts: ReceiptWatcher | None = None
        self.collector: VoteCollector | None = None
        self.submitter: Submitter | None = None
        self.recovery: Recovery | None = None
        self.outcomes: TaskOutcomes | None = None
        self._session: aiohttp.ClientSession | None = None
        self._rpc: RpcConnection | None = None
        self._runner: web.AppRunner | None = None

        self.finality = FinalityWatcher(self, config.finality, config.finality_interval)
        self.turns = TurnKeeper(self)
        self.forwarder = Forwarder(self)
        self._semaphore = asyncio.Semaphore(config.max_concurrent_tasks)
        self._tasks: dict[bytes, asyncio.Task] = {}
        self._open_count = 0
        self._stopping = False

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> str:
        """Open, connect, resume, bind; returns the base URL (``http://host:port``)."""
        if self._runner is not None:
            raise RuntimeError("aggregator already started")
        config = self.config
        self._stopping = False
        try:
            self._rpc = RpcConnection(config.rpc_url, registry=self.metrics.registry)
            self.w3 = await self._rpc.open(expect_chain_id=self.chain_id)
            chain = self.chain = ChainView(
                self.w3,
                config.deployment,
                refresh_interval=config.chain_refresh_interval,
                schedule_ttl=config.schedule_ttl,
            )
            await chain.refresh(force=True)
            db = self.db = await TasksDB.open(config.store_path, synchronous=config.db_synchronous)
            self.directory = AttesterDirectory(chain, config.attesters)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=config.max_connections, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(total=config.vote_timeout),
            )
            if not await chain.is_active(self.address):
                self.log.step(
                    "node.not_an_operator",
                    level=logging.WARNING,
                    account=self.address,
                    message="the aggregator's account is not an active operator: submissions will "
                    "revert with AggregatorNotActive until it registers",
                )
            self.sender = AsyncTxSender(
                self.w3,
                config.ecdsa_key,
                chain_id=self.chain_id,
                decoder=ErrorDecoder.for_contracts(*_ERROR_SOURCES),
                receipt_timeout=config.receipt_timeout,
                max_fee_per_gas=config.max_fee_per_gas,
            )
            self.receipts = ReceiptWatcher(self.w3, self.address, config.receipt_poll_interval)
            self.outcomes = TaskOutcomes(db, chain, self.counters, self.log, final_at_once=self.finality.at_once)
            self.collector = VoteCollector(config, chain, self.directory, self._session, db, self.counters, self.log)
            self.submitter = Submitter(
                config,
                chain,
                self.sender,
                db,
                self.receipts,
                PrecompileBackend(sync_web3(config.rpc_url, registry=self.metrics.registry)),
                self.outcomes,
                self.reads,
                self.counters,
                self.log,
            )
            self.recovery = Recovery(db, chain, self.sender, self.submitter, self.outcomes, self.log)
            # Transactions a previous run signed come first: they own their nonces.
            await self.recovery.resend_stored()
            open_rows = await db.open_tasks()
            for row in open_rows:
                self.spawn(row.task_hash)
            self.finality.start()
            self._runner = GuardedAppRunner(self.app, access_log=None, shutdown_timeout=5.0)
            await self._runner.setup()
            site = web.TCPSite(self._runner, config.host, config.port)
            await site.start()
            port = int(self._runner.addresses[0][1])
            self.url = f"http://{config.host}:{port}"
        except BaseException:
            await self._close()
            raise
        self.log.step(
            "node.started",
            url=self.url,
            account=self.address,
            center=chain.address,
            chain_id=self.chain_id,
            db=str(config.store_path),
            resumed=len(open_rows),
        )
        return self.url

    async def stop(self) -> None:
        """Stop serving and cancel the work in progress; every open task stays in the store."""
        if self._runner is not None:
            self.log.step("node.stopping", url=self.url, in_flight=len(self._tasks))
        await self._close()

    async def _close(self) -> None:
        self._stopping = True
        collector = self.collector
        if collector is not None:
            collector.stopping = True
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        await self.finality.stop()
        await self.forwarder.close()
        pending = list(self._tasks.values())
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()
        if collector is not None:
            await collector.close()
        if self.receipts is not None:
            await self.receipts.close()
            self.receipts = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.db is not None:
            db, self.db = self.db, None
            await db.close()
        if self._rpc is not None:
            await self._rpc.close()
            self._rpc = None
        self.metrics.in_flight.set(0)
        self.url = None

    # --- what the JSON-RPC methods use ----------------------------------------------------------

    @property
    def open_count(self) -> int:
        """Tasks accepted and not finished (waiting for a slot included)."""
        return self._open_count

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def is_processing(self, task_hash: bytes) -> bool:
        return task_hash in self._tasks

    async def definition(self, definition_id: int) -> DefinitionView:
        """The definition and its members, one chain read for every task that asks at once."""
        chain = self.require_chain()
        return await self.reads.get(("definition", definition_id), lambda: chain.definition(definition_id))

    @property
    def provider(self) -> Any:
        """The fail-over RPC provider of the node's connection (None before start)."""
        return self._rpc.provider if self._rpc is not None else None

    def require_db(self) -> TasksDB:
        return _started(self.db, ApplicationError(CHAIN_UNAVAILABLE, "the aggregator is not started"))

    def require_chain(self) -> ChainView:
        return _started(self.chain, ApplicationError(CHAIN_UNAVAILABLE, "the aggregator is not started"))

    def require_directory(self) -> AttesterDirectory:
        return _started(self.directory, RuntimeError("the aggregator is not started"))

    def http(self) -> aiohttp.ClientSession:
        return _started(self._session, RuntimeError("the aggregator is not started"))

    # --- processing -----------------------------------------------------------------------------

    def spawn(self, task_hash: bytes) -> None:
        """Process ``task_hash`` (stored and open) in the background, once."""
        if task_hash in self._tasks or self._stopping:
            return
        self._open_count += 1
        self.metrics.in_flight.inc()
        task = asyncio.create_task(self._run_task(task_hash), name=f"task-{task_hash.hex()[:12]}")
        self._tasks[task_hash] = task

    async def _run_task(self, task_hash: bytes) -> None:
        try:
            async with self._semaphore:
                await self._process(task_hash)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or a chain outage beyond the retries: the task stays explained
            logger.exception("task 0x%s failed unexpectedly", task_hash.hex())
            self.log.failure("internal_error", task_hash, error=f"{type(exc).__name__}: {exc}")
            if self.db is not None and not self._stopping:
                self.counters.outcomes.labels(outcome="failed").inc()
                self.db.mark_failed(task_hash, f"internal_error: {type(exc).__name__}: {exc}")
        finally:
            self._tasks.pop(task_hash, None)
            self._open_count -= 1
            self.metrics.in_flight.dec()

    async def _process(self, task_hash: bytes) -> None:
        db = self.require_db()
        collector = _started(self.collector, RuntimeError("the aggregator is not started"))
        submitter = _started(self.submitter, RuntimeError("the aggregator is not started"))
        outcomes = _started(self.outcomes, RuntimeError("the aggregator is not started"))
        recovery = _started(self.recovery, RuntimeError("the aggregator is not started"))
        row = await db.get(task_hash)
        if row is None or not row.is_open:
            return
        work = TaskWork(task_hash, row.task, row.performer_signature, row.created_at)
        for vote in await db.votes(task_hash):
            if vote.valid is False:
                work.bad.add(vote.operator_id)
            else:
                work.votes[vote.operator_id] = (vote.is_approved, G1Point(*vote.signature))
        if row.status is TaskStatus.SUBMITTING:
            if await recovery.finish_stored(work, row):
                return
        deadline = asyncio.get_running_loop().time() + self.config.task_timeout
        retries = 0
        while True:
            definition = await self._definition_for(work, outcomes)
            if definition is None:
                return
            db.set_collecting(task_hash, total_power=definition.total_power)
            side = await collector.collect(work, definition, deadline)
            if side is None:
                # Attesters refuse to vote on a task that already landed (someone else submitted
                # it): that is a success, not a missing quorum.
                if await outcomes.landed_on_chain(work):
                    return
                approve, reject = work.powers(definition.members)
                await outcomes.failed(
                    work,
                    "no_quorum",
                    approve=approve,
                    reject=reject,
                    total=definition.total_power,
                    message=f"no side reached its threshold within {self.config.task_timeout:g} s: "
                    f"approve {approve}, reject {reject} of {definition.total_power}",
                )
                return
            if not await self.turns.wait(work):
                return  # landed by another aggregator while this one waited for its turn
            try:
                await submitter.submit(work, definition, side)
                return
            except Recollect:
                continue
            except Retry as retry:
                retries += 1
                db.note_error(task_hash, f"retry {retries}: {retry}")
                self.log.step("task.retry", task_hash, reason=retry.reason, message=retry.message, retry=retries)
                if retries > self.config.submit_retries:
                    approve, reject = work.powers(definition.members)
                    await outcomes.failed(
                        work,
                        retry.reason,
                        approve=approve,
                        reject=reject,
                        total=definition.total_power,
                        message=retry.message or None,
                    )
                    return
                self.require_chain().invalidate()
                if retry.backoff:
                    await asyncio.sleep(min(0.25 * 2 ** (retries - 1), 4.0) * (0.5 + random.random()))

    async def _definition_for(self, work: TaskWork, outcomes: TaskOutcomes) -> DefinitionView | None:
        """The task's definition (riding out a few RPC hiccups), or None once the task failed."""
        chain = self.require_chain()
        definition_id = work.task.task_definition_id
        for attempt in range(5):
            try:
                definition = await self.definition(definition_id)
                break
            except UnknownDefinition:
                await outcomes.failed(work, "unknown_definition")
                return None
            except Exception as exc:  # the RPC endpoint hiccuped: wait a little
                if attempt == 4:
                    raise
                self.log.step("chain.unavailable", work.task_hash, level=logging.WARNING, error=str(exc))
                await asyncio.sleep(0.5 * (attempt + 1))
        if definition.expired_at(chain.block_number):
            await outcomes.failed(
                work, "expired", message=f"definition {definition_id} expired at block {definition.params.block_expiry}"
            )
            return None
        return definition


def _started(part: _T | None, error: Exception) -> _T:
    """``part``, or ``error`` raised when the node is not started (or stopped)."""
    if part is None:
        raise error
    return part
