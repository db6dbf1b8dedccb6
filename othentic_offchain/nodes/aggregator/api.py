"""The aggregator's JSON-RPC methods and HTTP endpoints.

* ``sendTask(proofOfTask, data, taskDefinitionId, performerAddress, signature[, signatureType, targetChainId])``
  -> the taskHash (0x-hex). The task is checked (formats, the performer's signature, the
  definition, the performer's registration), stored, and only then answered; everything after
  runs in the background. Sending a known task again answers the same hash: a task open or
  landed is left as it is (``taskStatus`` tells its state); a task that failed is looked up in the
  center's ``taskRecord`` and marked landed if it is there, else checked again like a new one and
  accepted again (its stored votes kept), or refused with the check's error.
* ``sendCustomMessage(data[, taskDefinitionId, signer, signature, timestamp])`` -> how many
  attesters took the message (``POST /p2p/message``, signed with this node's operator key).
  Signed by an active operator, or unsigned from a trusted client address only
  (:mod:`~othentic_offchain.nodes.aggregator.messages`), and bounded (see
  :class:`~othentic_offchain.nodes.aggregator.config.AggregatorConfig`): the data's size, one call
  per HTTP request, a rate per caller and overall; the signer's status and the attesters come
  from the cached chain view, so a call costs no chain read of its own.
* ``taskStatus(taskHash)`` -> status, side, powers, votes, transaction, task number, landing block,
  final or not, error.
* ``listTasks([limit, cursor, status])`` -> ``{"tasks": [...], "next": cursor or null}``: the
  newest tasks first (at most :data:`~othentic_offchain.nodes.aggregator.params.MAX_LIST_LIMIT`
  a call, one call per HTTP request), each as ``taskStatus`` has it, votes with their arrival
  time, the proof of task cut to :data:`LISTED_PROOF_CHARS` characters and the data to its size
  and first :data:`LISTED_DATA_BYTES` bytes; ``status`` keeps one status or ``"open"``. Nothing
  secret (no performer signature, no raw transaction): what every attester is sent anyway.
* ``operatorActivity`` -> per operator asked for votes since the node started: votes, refusals,
  failed requests, when it last answered and last failed (``online``: the answer is newer).
* ``health`` (also ``GET /health``; ``aggregators``: the on-chain list, its turn and grace
  seconds, this node's position or null); ``GET /metrics`` (Prometheus).

A task a client sent is forwarded to the other aggregators listed on-chain; one carrying
:data:`~othentic_offchain.nodes.aggregator.turns.FORWARDED_HEADER` is not forwarded again
(:mod:`~othentic_offchain.nodes.aggregator.turns`).

Parameters are declared in :mod:`othentic_offchain.nodes.aggregator.params`; the application
error codes are in :mod:`othentic_offchain.nodes.aggregator.config`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from eth_utils import keccak, to_checksum_address

from othentic_offchain.chain.rpc import rpc_deadline
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.chain.view import UnknownDefinition
from othentic_offchain.crypto.auth import P2P_MESSAGE_TAG
from othentic_offchain.crypto.ecdsa import InvalidTaskSignature, WrongTaskSigner, check_performer_signature
from othentic_offchain.jsonrpc import INVALID_PARAMS, ApplicationError, JsonRpcServer
from othentic_offchain.nodes.aggregator.config import (
    BUSY,
    CHAIN_UNAVAILABLE,
    DEFINITION_EXPIRED,
    INVALID_SIGNATURE,
    PERFORMER_NOT_ACTIVE,
    RATE_LIMITED,
    UNKNOWN_DEFINITION,
    UNKNOWN_TASK,
    UNSUPPORTED_SIGNATURE_TYPE,
    WRONG_CHAIN,
)
from othentic_offchain.nodes.aggregator.messages import MessageGate
from othentic_offchain.nodes.aggregator.params import (
    LIST_TASKS_PARAMS,
    SEND_CUSTOM_MESSAGE_PARAMS,
    TASK_STATUS_PARAMS,
    send_task_params,
)
from othentic_offchain.nodes.aggregator.rows import OPEN_STATUSES, TaskRow, TaskStatus, VoteRow
from othentic_offchain.nodes.aggregator.turns import FORWARDED_HEADER, my_position
from othentic_offchain.nodes.aggregator.work import TaskWork, hex_or_none, side_name
from othentic_offchain.nodes.common.protocol import (
    HEALTH_PATH,
    MESSAGE_PATH,
    METRICS_PATH,
    AnswerTooLarge,
    auth_headers,
    read_capped,
)

if TYPE_CHECKING:
    from othentic_offchain.nodes.aggregator.node import AggregatorNode


#: Seconds ``health`` waits for the chain before saying it is unreachable.
HEALTH_PROBE_TIMEOUT = 2.0
#: ``health`` says "degraded" when the oldest open task is older than this many task timeouts.
STALLED_AFTER_TIMEOUTS = 3
#: ``listTasks`` cuts each proof of task to this many characters, and shows this many bytes of data.
LISTED_PROOF_CHARS = 200
LISTED_DATA_BYTES = 32
#: ``listTasks`` calls one HTTP request (a batch) may hold.
LISTS_PER_REQUEST = 1


@dataclass
class _HttpRequest:
    """What the methods of one HTTP request (one call, or every call of a batch) share."""

    client: str
    forwarded: bool = False  # sent on by another aggregator (turns.FORWARDED_HEADER): not forwarded again
    messages: int = 0
    lists: int = 0


_REQUEST: contextvars.ContextVar[_HttpRequest | None] = contextvars.ContextVar("aggregator_request", default=None)


class AggregatorApi:
    """The methods of one :class:`~othentic_offchain.nodes.aggregator.node.AggregatorNode`'s JSON-RPC."""

    def __init__(self, node: AggregatorNode):
        self.node = node
        self.metrics = node.counters
        self.messages = MessageGate(node)

    def install(self, rpc: JsonRpcServer, app: web.Application) -> None:
        """Register the methods on ``rpc`` and the routes on ``app``."""
        rpc.on_call = self._count_call
        rpc.register("sendTask", self.send_task, send_task_params(self.node.config.max_proof_length))
        rpc.register("sendCustomMessage", self.send_custom_message, SEND_CUSTOM_MESSAGE_PARAMS)
        rpc.register("taskStatus", self.task_status, TASK_STATUS_PARAMS)
        rpc.register("health", self.health)
        rpc.register("listTasks", self.list_tasks, LIST_TASKS_PARAMS)
        rpc.register("operatorActivity", self.operator_activity)

        async def handle(request: web.Request) -> web.Response:
            # The calls of a batch run in tasks that copy this context: they share one _HttpRequest.
            forwarded = request.headers.get(FORWARDED_HEADER) == "1"
            token = _REQUEST.set(_HttpRequest(client=request.remote or "-", forwarded=forwarded))
            try:
                return await rpc.handle(request)
            finally:
                _REQUEST.reset(token)

        app.router.add_post("/", handle)
        app.router.add_post("/rpc", handle)
        app.router.add_get(HEALTH_PATH, self._handle_health)
        app.router.add_get(METRICS_PATH, self.metrics.node.handler)

    def _refused(self) -> None:
        self.metrics.outcomes.labels(outcome="refused").inc()

    # --- sendTask -------------------------------------------------------------------------------

    async def send_task(
        self,
        proofOfTask: str,
        data: bytes,
        taskDefinitionId: int,
        performerAddress: str,
        signature: bytes,
        signatureType: str,
        targetChainId: int | None,
    ) -> str:
        """Check, store, answer; the task is processed in the background."""
        node = self.node
        if signatureType == "bls":
            self._refused()
            raise ApplicationError(
                UNSUPPORTED_SIGNATURE_TYPE,
                'signatureType "bls" is not supported: sign the task with the performer\'s '
                'ECDSA key (signatureType "ecdsa")',
                {"signatureType": signatureType},
            )
        if targetChainId is not None and targetChainId != node.chain_id:
            self._refused()
            raise ApplicationError(
                WRONG_CHAIN,
                f"targetChainId {targetChainId} is not this aggregator's chain ({node.chain_id})",
                {"targetChainId": targetChainId, "chainId": node.chain_id},
            )
        task = TaskInfo(proofOfTask, data, performerAddress, taskDefinitionId)
        task_hash = task.task_hash()
        center = to_checksum_address(node.config.deployment.attestation_center)
        try:
            bound = check_performer_signature(task_hash, signature, task.performer, center, node.chain_id)
        except WrongTaskSigner as exc:
            self._refused()
            raise ApplicationError(
                INVALID_SIGNATURE,
                str(exc),
                {
                    "taskHash": hex_or_none(task_hash),
                    "performerHash": hex_or_none(task.performer_hash(center, node.chain_id)),
                    "performer": task.performer,
                    "recovered": exc.recovered,
                    "recoveredBare": exc.recovered_bare,
                },
            ) from None
        except InvalidTaskSignature as exc:
            self._refused()
            raise ApplicationError(
                INVALID_SIGNATURE,
                f"signature is not a valid signature of taskHash: {exc}",
                {"taskHash": hex_or_none(task_hash)},
            ) from None
        db = node.require_db()
        known = None if node.is_processing(task_hash) else await db.get(task_hash)
        if node.is_processing(task_hash) or (known is not None and known.status is not TaskStatus.FAILED):
            self.metrics.outcomes.labels(outcome="duplicate").inc()
            node.log.step("task.duplicate", task_hash, status=known.status.value if known else "processing")
            return "0x" + task_hash.hex()
        if known is not None and await self._landed_meanwhile(known, signature):
            return "0x" + task_hash.hex()
        await self._check_on_chain(task, bound)
        limit = node.config.max_open_tasks
        if node.open_count >= limit:
            self._refused()
            raise ApplicationError(
                BUSY,
                f"{node.open_count} tasks are open, the limit is {limit}: retry later",
                {"open": node.open_count},
            )
        if known is not None:  # failed without landing: accepted again
            if not await db.reopen_failed(task_hash):  # the same task raced in through another call
                self.metrics.outcomes.labels(outcome="duplicate").inc()
                return "0x" + task_hash.hex()
            self.metrics.outcomes.labels(outcome="reaccepted").inc()
            node.log.step("task.reaccepted", task_hash, previous_error=known.error, attempts=known.attempts)
            node.spawn(task_hash)
            await self._forward(task, signature)
            return "0x" + task_hash.hex()
        inserted = await db.insert_task(task_hash, task, signature)
        if not inserted:  # the same task raced in through another call
            self.metrics.outcomes.labels(outcome="duplicate").inc()
            return "0x" + task_hash.hex()
        self.metrics.outcomes.labels(outcome="accepted").inc()
        node.log.step(
            "task.accepted",
            task_hash,
            definition=task.task_definition_id,
            performer=task.performer,
            proof_of_task=task.proof_of_task,
        )
        node.spawn(task_hash)
        await self._forward(task, signature)
        return "0x" + task_hash.hex()

    async def _forward(self, task: TaskInfo, signature: bytes) -> None:
        """A task a client sent goes on to the other listed aggregators (one forwarded, never),
        before the client hears that it was accepted: a node that dies right after answering has
        handed the task on already, and one that dies before answering leaves it to the client,
        which sends it elsewhere. Each forward is bounded by ``forward_timeout``; the votes are
        being collected meanwhile."""
        request = _REQUEST.get()
        if request is not None and request.forwarded:
            return
        params = [task.proof_of_task, hex_or_none(task.data), task.task_definition_id, task.performer]
        await self.node.forwarder.forward(task.task_hash(), [*params, hex_or_none(signature), "ecdsa"])

    async def _landed_meanwhile(self, row: TaskRow, signature: bytes) -> bool:
        """A failed task sent again: True when the center's ``taskRecord`` has it after all (it is
        marked landed), False when it can be accepted again. The record is read, never guessed:
        an RPC failure refuses the call (retry later)."""
        node = self.node
        try:
            number, block, approved = await node.require_chain().task_record(row.task_hash)
        except Exception as exc:
            self._refused()
            raise ApplicationError(
                CHAIN_UNAVAILABLE,
                f"could not read the task's on-chain record: {type(exc).__name__}: {exc}; retry later",
                {"retry": True, "taskHash": hex_or_none(row.task_hash), "status": row.status.value},
            ) from None
        if number == 0:
            return False
        outcomes = node.outcomes
        if outcomes is not None:
            work = TaskWork(row.task_hash, row.task, signature, row.created_at)
            await outcomes.landed(work, number, approved, block, None)
        self.metrics.outcomes.labels(outcome="duplicate").inc()
        node.log.step("task.duplicate", row.task_hash, status="landed", task_number=number)
        return True

    async def _check_on_chain(self, task: TaskInfo, bound: bool) -> None:
        node = self.node
        chain = node.require_chain()
        try:
            definition = await node.definition(task.task_definition_id)
            active = await node.reads.get(("active", task.performer), lambda: chain.is_active(task.performer))
        except UnknownDefinition:
            self._refused()
            raise ApplicationError(
                UNKNOWN_DEFINITION,
                f"task definition {task.task_definition_id} does not exist",
                {"taskDefinitionId": task.task_definition_id},
            ) from None
        except Exception as exc:
            self._refused()
            raise ApplicationError(
                CHAIN_UNAVAILABLE,
                f"could not read the chain to check the task: {type(exc).__name__}: {exc}; retry later",
                {"retry": True},
            ) from None
        if definition.expired_at(chain.block_number):
            self._refused()
            raise ApplicationError(
                DEFINITION_EXPIRED,
                f"task definition {task.task_definition_id} expired at "
                f"block {definition.params.block_expiry} (now {chain.block_number})",
                {
                    "taskDefinitionId": task.task_definition_id,
                    "blockExpiry": definition.params.block_expiry,
                    "block": chain.block_number,
                },
            )
        if not bound and definition.params.penalties.rejected_task:
            self._refused()
            raise ApplicationError(
                INVALID_SIGNATURE,
                f"task definition {task.task_definition_id} punishes rejected tasks, so it takes only a performer "
                "signature bound to this center and chain (performerHash), not one over the bare taskHash",
                {
                    "taskDefinitionId": task.task_definition_id,
                    "performerHash": hex_or_none(
                        task.performer_hash(
                            to_checksum_address(node.config.deployment.attestation_center), node.chain_id
                        )
                    ),
                },
            )
        if not active:
            self._refused()
            raise ApplicationError(
                PERFORMER_NOT_ACTIVE,
                f"performer {task.performer} is not an active operator: the contract would refuse the task",
                {"performer": task.performer},
            )

    # --- sendCustomMessage ----------------------------------------------------------------------

    async def send_custom_message(
        self,
        data: bytes,
        taskDefinitionId: int | None,
        signer: str | None,
        signature: bytes | None,
        timestamp: int | None,
    ) -> int:
        """Forward ``{"data": ...}`` to every attester's ``/p2p/message`` at once, signed by this
        node (admitted and bounded: see the module)."""
        node = self.node
        caller = await self._admit_message(data, taskDefinitionId, signer, signature, timestamp)
        urls = await self._attester_urls()
        body = json.dumps({"data": hex_or_none(data)}).encode()
        chain = node.require_chain()
        headers = {
            "Content-Type": "application/json",
            **auth_headers(
                node.config.ecdsa_key, P2P_MESSAGE_TAG, node.chain_id, chain.address, keccak(body), int(time.time())
            ),
        }
        session = node.http()

        async def deliver(url: str) -> bool:
            try:
                async with session.post(url + MESSAGE_PATH, data=body, headers=headers) as response:
                    await read_capped(response)  # an attester answering gigabytes is cut off
                    return 200 <= response.status < 300
            except (TimeoutError, aiohttp.ClientError, AnswerTooLarge):
                return False

        results = await asyncio.gather(*(deliver(u) for u in urls))
        delivered = sum(results)
        node.log.step("message.forwarded", attesters=len(urls), delivered=delivered, bytes=len(data), caller=caller)
        return delivered

    async def _admit_message(
        self, data: bytes, definition: int | None, signer: str | None, signature: bytes | None, timestamp: int | None
    ) -> str:
        """Who the caller is, if its call may go ahead: one per HTTP request, then the gate."""
        config = self.node.config
        request = _REQUEST.get()
        client = request.client if request is not None else "-"
        if request is not None:
            request.messages += 1
            if request.messages > config.messages_per_request:
                self.node.log.step("message.refused", level=logging.WARNING, client=client, reason="batch")
                raise ApplicationError(
                    RATE_LIMITED,
                    f"at most {config.messages_per_request} sendCustomMessage call(s) per request",
                    {"limit": config.messages_per_request},
                )
        return await self.messages.admit(client, data, definition, signer, signature, timestamp)

    async def _attester_urls(self) -> list[str]:
        node = self.node
        directory = node.require_directory()
        urls = directory.static_urls()
        try:
            ids = await node.require_chain().active_operator_ids()
            for operator_id in ids:
                url = await directory.url_for(int(operator_id))
                if url is not None:
                    urls.append(url)
        except Exception as exc:
            node.log.step("message.chain_unavailable", level=logging.WARNING, error=str(exc))
        return list(dict.fromkeys(urls))

    # --- taskStatus, health ---------------------------------------------------------------------

    async def task_status(self, taskHash: bytes) -> dict[str, Any]:
        db = self.node.require_db()
        row = await db.get(taskHash)
        if row is None:
            raise ApplicationError(
                UNKNOWN_TASK,
                f"task {hex_or_none(taskHash)} is unknown to this aggregator",
                {"taskHash": hex_or_none(taskHash)},
            )
        votes = await db.votes(taskHash)
        approve, reject, total = await self._powers(row, votes)
        return {
            "taskHash": hex_or_none(row.task_hash),
            "status": row.status.value,
            "side": side_name(row.side),
            "approvePower": str(approve),
            "rejectPower": str(reject),
            "totalPower": str(total),
            "votes": [
                {"operatorId": v.operator_id, "side": side_name(v.is_approved), "valid": v.valid is not False}
                for v in votes
            ],
            "nonSigners": list(row.non_signers) if row.non_signers is not None else None,
            "txHash": hex_or_none(row.tx_hash),
            "taskNumber": row.task_number,
            "landedBlock": row.landed_block,
            "final": row.is_final,
            "attempts": row.attempts,
            "error": row.error,
            "taskDefinitionId": row.task_definition_id,
            "performer": row.performer,
            "proofOfTask": row.proof_of_task,
            "createdAt": row.created_at,
            "finishedAt": row.finished_at,
        }

    async def list_tasks(self, limit: int, cursor: tuple[float, bytes] | None, status: str | None) -> dict[str, Any]:
        request = _REQUEST.get()
        if request is not None:
            request.lists += 1
            if request.lists > LISTS_PER_REQUEST:
                raise ApplicationError(
                    RATE_LIMITED,
                    f"at most {LISTS_PER_REQUEST} listTasks call(s) per request",
                    {"limit": LISTS_PER_REQUEST},
                )
        statuses = None if status is None else (OPEN_STATUSES if status == "open" else (TaskStatus(status),))
        found = await self.node.require_db().recent(limit, before=cursor, statuses=statuses)
        tasks = [await self._listed(row, votes) for row, votes in found]
        last = found[-1][0] if len(found) == limit else None
        return {
            "tasks": tasks,
            "next": None if last is None else f"{last.created_at!r}:0x{last.task_hash.hex()}",
        }

    async def _powers(self, row: TaskRow, votes: list[VoteRow]) -> tuple[int, int, int]:
        """(approve, reject, total) voting power of the task's votes: as stored at submission, or
        counted from the cached operator set while the task is open (or nothing was stored)."""
        approve, reject, total = row.approve_power, row.reject_power, row.total_power
        if row.is_open or total == 0:
            with contextlib.suppress(Exception):
                members = (await self.node.definition(row.task_definition_id)).members
                approve = sum(members.get(v.operator_id, 0) for v in votes if v.is_approved and v.valid is not False)
                reject = sum(members.get(v.operator_id, 0) for v in votes if not v.is_approved and v.valid is not False)
                total = sum(members.values())
        return approve, reject, total

    async def _listed(self, row: TaskRow, votes: list[VoteRow]) -> dict[str, Any]:
        approve, reject, total = await self._powers(row, votes)
        proof = row.proof_of_task
        return {
            "taskHash": hex_or_none(row.task_hash),
            "status": row.status.value,
            "side": side_name(row.side),
            "taskDefinitionId": row.task_definition_id,
            "performer": row.performer,
            "proofOfTask": proof[:LISTED_PROOF_CHARS],
            "proofOfTaskLength": len(proof),
            "dataSize": len(row.data),
            "dataPrefix": hex_or_none(row.data[:LISTED_DATA_BYTES]),
            "approvePower": str(approve),
            "rejectPower": str(reject),
            "totalPower": str(total),
            "votes": [
                {
                    "operatorId": v.operator_id,
                    "side": side_name(v.is_approved),
                    "valid": v.valid is not False,
                    "receivedAt": v.received_at,
                }
                for v in votes
            ],
            "nonSigners": list(row.non_signers) if row.non_signers is not None else None,
            "txHash": hex_or_none(row.tx_hash),
            "taskNumber": row.task_number,
            "landedBlock": row.landed_block,
            "final": row.is_final,
            "attempts": row.attempts,
            "error": row.error,
            "createdAt": row.created_at,
            "updatedAt": row.updated_at,
            "finishedAt": row.finished_at,
        }

    async def operator_activity(self) -> dict[str, Any]:
        collector = self.node.collector
        if collector is None:
            raise ApplicationError(CHAIN_UNAVAILABLE, "the aggregator is not started")
        return collector.activity.snapshot()

    async def health(self) -> dict[str, Any]:
        node = self.node
        config = node.config
        info: dict[str, Any] = {
            "status": "ok",
            "node": config.name,
            "chainId": node.chain_id,
            "attestationCenter": to_checksum_address(config.deployment.attestation_center),
            "aggregator": node.address,
            "tasksInFlight": node.in_flight,
            "db": str(config.store_path),
        }
        problems: list[str] = []
        try:
            # an RPC outage answers "degraded" now, not after the failover deadline
            with rpc_deadline(HEALTH_PROBE_TIMEOUT):
                eth = node.w3.eth
                block, mined, pending = await asyncio.gather(
                    eth.block_number,
                    eth.get_transaction_count(node.address, "latest"),
                    eth.get_transaction_count(node.address, "pending"),
                )
            info["block"] = int(block)
            info["nonces"] = self._nonces(int(mined), int(pending))
            if info["nonces"]["gap"]:
                problems.append(
                    f"nonce gap: nonce(s) {info['nonces']['missing']} were sent but are neither mined nor in "
                    "the node's pool (dropped); they are sent again when a stuck submission is looked at"
                )
        except Exception as exc:
            info["block"] = None
            problems.append(f"chain unreachable: {type(exc).__name__}: {exc}")
        provider = node.provider
        if provider is not None:
            info["rpcEndpoints"] = provider.policy.status()
        info["aggregators"] = await self._aggregators()
        if node.db is not None:
            info["tasks"] = await node.db.counts()
            open_count, oldest, stuck = await node.db.open_summary()
            age = round(time.time() - oldest, 1) if oldest is not None else None
            info["openTasks"], info["oldestOpenTaskSeconds"], info["stuckTasks"] = open_count, age, stuck
            info["unfinalTasks"] = await node.db.unfinal_count()
            info["finality"] = config.finality
            if stuck:
                problems.append(f"{stuck} submission(s) stuck: their transactions are not mined (see taskStatus)")
            if age is not None and age > STALLED_AFTER_TIMEOUTS * config.task_timeout:
                problems.append(
                    f"the oldest open task is {age:g} s old (more than {STALLED_AFTER_TIMEOUTS} task timeouts): "
                    "tasks are not making progress"
                )
        if problems:
            info["status"] = "degraded"
            info["error"] = "; ".join(problems)
        return info

    async def _aggregators(self) -> dict[str, Any] | None:
        """The on-chain aggregator list and this node's place in it (None: the chain is unreadable)."""
        chain = self.node.chain
        if chain is None:
            return None
        try:
            with rpc_deadline(HEALTH_PROBE_TIMEOUT):
                schedule = await chain.schedule()
        except Exception:
            return None
        return {
            "list": [
                {"operatorId": a.operator_id, "account": a.account, "endpoint": a.endpoint}
                for a in schedule.aggregators
            ],
            "turnSeconds": schedule.turn_seconds,
            "graceSeconds": schedule.grace_seconds,
            "position": my_position(schedule, self.node.address),
        }

    def _nonces(self, mined: int, pending: int) -> dict[str, Any]:
        """The account's nonces: mined (latest), in the node's pool (pending), next of ours; a gap
        is a nonce this aggregator broadcast that is neither mined nor in the pool (a dropped
        transaction); one signed and not yet broadcast is no gap."""
        sender = self.node.sender
        following = sender.core.next_nonce() if sender is not None else None
        missing = sender.missing_nonces(mined, pending) if sender is not None else []
        return {
            "mined": mined,
            "pending": pending,
            "next": pending if following is None else following,
            "gap": bool(missing),
            "missing": missing[:20],
        }

    async def _handle_health(self, _request: web.Request) -> web.Response:
        return web.json_response(await self.health())

    def _count_call(self, method: str | None, code: int | None) -> None:
        self.metrics.rpc.labels(method=method or "-", code="ok" if code is None else str(code)).inc()
        if method == "sendTask" and code == INVALID_PARAMS:  # application refusals count themselves
            self._refused()
