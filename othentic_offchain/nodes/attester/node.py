"""The attester node: validates tasks with its Validation Service and signs one vote per task.

    node = AttesterNode(AttesterConfig(rpc_url, deployment, ecdsa_key, bls, "http://127.0.0.1:4002"))
    url = await node.start()      # POST {url}/attester/v1/attest
    ...
    await node.stop()

What it promises the operator running it: it never signs both sides of a task. Every vote is
recorded (:class:`~.votes.VoteStore`) before it is answered, and a task it already voted on is
answered from that record, without asking the service again, after a restart too. Two requests
racing on one task share one in-process lock, and the store's atomic insert settles races between
processes sharing the file.

What it promises the aggregator: a vote only for a task it can check, i.e. a request signed by an
active operator other than the task's performer (:mod:`.gate`), for ITS attestation center and
chain, whose ``taskHash`` matches the task, signed by the task's performer, an active operator,
of a definition that exists and lists this operator as an active attester. Each refusal has a
stable code (:class:`~.protocol.ErrorBody`):

=====  =========================  ==========================================================
429    ``rate_limited``           too many requests from this address, or by this signer
413    ``too_large``              the body, ``proofOfTask`` or ``data`` is over its limit (named)
400    ``bad_request``            not JSON, or a field missing or mistyped (named)
401    ``unauthenticated``        the signature headers are missing, malformed, stale or not
                                  the claimed signer's
403    ``not_an_aggregator``      the signer is not an active operator (or not on the allowlist)
403    ``aggregator_is_performer`` the signer is the task's own performer
409    ``performer_not_active``   the task's performer is not an active operator
400    ``wrong_center``           the request names another attestation center
400    ``wrong_chain``            the request names another chain id
400    ``task_hash_mismatch``     ``taskHash`` is not the hash of the task
400    ``bad_performer_signature`` the signature does not recover to the task's performer
404    ``unknown_definition``     no task definition with that id on-chain
409    ``not_an_attester``        this operator is not an active member of the definition's set
409    ``bls_key_mismatch``       the configured BLS key is not the one registered on-chain
409    ``already_landed``         the task landed on-chain before this attester voted on it
502    ``service_error``          the Validation Service failed (its message is passed on)
503    ``service_unavailable``    the Validation Service is down or too slow (URL named)
503    ``chain_unavailable``      the RPC endpoint failed while reading the chain
500    ``internal_error``         a bug, or the vote record failed: no vote is given
=====  =========================  ==========================================================

The ``bls_key_mismatch`` refusal saves everyone a vote the contract would reject (the operator
rotated its key on-chain and still runs with the old one, or the other way round). The
``already_landed`` refusal keeps an honest operator from signing a task that is already decided:
its vote could no longer count, and one on the losing side would be an incorrect attestation.

The request checks live in :mod:`.checks`, the chain checks in :mod:`.membership`, the
configuration in :mod:`.config`.

Nothing of a refused request is recorded, and its task is not logged (the ``task.received`` line
comes after the admission checks, with a long ``proofOfTask`` cut short).

Also: ``POST /p2p/message`` relays a custom message, signed by an active operator with a fresh
timestamp (the same admission checks and codes, but the performer's), to the Validation Service's
own ``/p2p/message`` and answers what it answered; ``GET /health``; ``GET /metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web
from eth_utils import keccak, to_checksum_address

from othentic_offchain.avs.clients import ServiceError, ServiceUnavailable, ValidationClient
from othentic_offchain.avs.runner import ServiceRunner
from othentic_offchain.chain.rpc import RpcConnection, rpc_deadline
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.chain.view import ChainView
from othentic_offchain.crypto.auth import ATTEST_REQUEST_TAG, P2P_MESSAGE_TAG
from othentic_offchain.nodes.attester.checks import Refusal, check_request, parse_attest, side, vote_of
from othentic_offchain.nodes.attester.config import AttesterConfig
from othentic_offchain.nodes.attester.gate import Gate
from othentic_offchain.nodes.attester.membership import Membership
from othentic_offchain.nodes.attester.votes import StoredVote, VoteStore
from othentic_offchain.nodes.common.lifecycle import NodeLifecycle
from othentic_offchain.nodes.common.observability import NodeMetrics, TaskLog
from othentic_offchain.nodes.common.protocol import (
    ATTEST_PATH,
    HEALTH_PATH,
    MAX_ATTEST_BODY_BYTES,
    MAX_MESSAGE_BODY_BYTES,
    MESSAGE_PATH,
    METRICS_PATH,
    AttestRequest,
    Vote,
    clip,
    error_response,
    node_app,
    task_info,
)
from othentic_offchain.nodes.common.redact import redact_url, scrub_urls

__all__ = ["AttesterConfig", "AttesterNode"]

_HEALTH_PROBE_TIMEOUT = 2.0


class AttesterNode(NodeLifecycle):
    """One operator's attester: an aiohttp app, its vote record and its view of the chain.

    ``app`` exists from construction (routes can be inspected or mounted); ``start`` binds the port,
    opens the vote record and connects to the chain; ``stop`` undoes all of it.
    """

    def __init__(self, config: AttesterConfig) -> None:
        self.config = config
        self.address = config.address
        self.attestation_center = to_checksum_address(config.deployment.attestation_center)
        self.chain_id = int(config.deployment.chain_id)
        self.url: str | None = None
        self._membership = Membership(config, self.attestation_center)
        self._gate = Gate(config, self._membership.chain_call)

        self.metrics = NodeMetrics(config.name)
        self.votes_signed = self.metrics.counter(
            "othentic_attester_votes_total", "Votes signed and recorded, by side", ["side"]
        )
        self.votes_replayed = self.metrics.counter(
            "othentic_attester_votes_replayed_total", "Requests answered with the vote already recorded"
        )
        self.refusals = self.metrics.counter(
            "othentic_attester_refusals_total", "Attest requests refused, by reason", ["reason"]
        )
        self.validation_latency = self.metrics.histogram(
            "othentic_attester_validation_seconds", "Time the Validation Service took to decide", ["outcome"]
        )
        self.votes_recorded = self.metrics.gauge(
            "othentic_attester_votes_recorded", "Votes in the record for this deployment"
        )
        self.votes_recorded.set_function(self._recorded_count)
        self.log = TaskLog(config.name, self.metrics)

        self.app = node_app()
        self.app.router.add_post(ATTEST_PATH, self._handle_attest)
        self.app.router.add_post(MESSAGE_PATH, self._handle_message)
        self.app.router.add_get(HEALTH_PATH, self._handle_health)
        self.app.router.add_get(METRICS_PATH, self.metrics.handler)

        self._runner: ServiceRunner | None = None
        self._store: VoteStore | None = None
        self._w3: Any = None
        self._rpc: RpcConnection | None = None
        self._chain: ChainView | None = None
        self._validation: ValidationClient | None = None
        self._http: aiohttp.ClientSession | None = None
        self._task_locks: dict[bytes, tuple[asyncio.Lock, int]] = {}

    @property
    def operator_id(self) -> int | None:
        """This operator's id as the chain last said (``None``: not registered, or not read yet)."""
        return self._membership.operator_id

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> str:
        """Open the vote record, connect to the chain (checking its id), bind; returns the base URL."""
        if self._runner is not None:
            raise RuntimeError("attester already started")
        config = self.config
        try:
            self._store = await asyncio.to_thread(VoteStore, config.votes_path, self.attestation_center, self.chain_id)
            self._rpc = RpcConnection(config.rpc_url, registry=self.metrics.registry)
            self._w3 = await self._rpc.open(expect_chain_id=self.chain_id)
            self._chain = ChainView(self._w3, config.deployment, refresh_interval=config.chain_refresh)
            found = await self._chain.operator_id_of(self.address)
            self._membership.operator_id = found or None
            self._validation = ValidationClient(config.validation_url, config.service_timeout)
            self._http = aiohttp.ClientSession()
            self._runner = ServiceRunner(self.app, config.host, config.port)
            self.url = await self._runner.start()
        except BaseException:
            await self._close()
            raise
        self.log.step(
            "node.started",
            url=self.url,
            operator=self.address,
            operator_id=self.operator_id,
            center=self.attestation_center,
            chain_id=self.chain_id,
            votes=str(config.votes_path),
        )
        return self.url

    async def stop(self) -> None:
        """Stop serving (requests in flight finish), close the record and the connections."""
        if self._runner is not None:
            self.log.step("node.stopping", url=self.url)
        await self._close()

    async def _close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.stop()
        self.url = None
        if self._validation is not None:
            await self._validation.close()
            self._validation = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._rpc is not None:
            await self._rpc.close()
            self._rpc = None
        self._w3 = None
        self._chain = None
        if self._store is not None:
            store, self._store = self._store, None
            await asyncio.to_thread(store.close)

    @property
    def store(self) -> VoteStore:
        if self._store is None:
            raise RuntimeError("attester not started")
        return self._store

    def _recorded_count(self) -> float:
        store = self._store
        if store is None:
            return 0.0
        try:
            return float(store.count())
        except Exception:
            return float("nan")

    # -- POST /attester/v1/attest -----------------------------------------------------------------

    async def _handle_attest(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        self.metrics.in_flight.inc()
        task_hash: bytes | None = None
        try:
            attest, task, signer = await self._admit_attest(request)
            task_hash = attest.task_hash
            self.log.step(
                "task.received",
                task_hash,
                definition=task.task_definition_id,
                performer=task.performer,
                aggregator=signer,
                proof_of_task=clip(task.proof_of_task),
            )
            vote, replayed = await self._vote(attest, task)
        except Refusal as refusal:
            self.refusals.labels(reason=refusal.code).inc()
            self.log.step(
                "task.refused",
                task_hash,
                level=logging.WARNING,
                reason=refusal.code,
                status=refusal.status,
                message=refusal.message,
            )
            return self._error_response(refusal.status, refusal.code, refusal.message)
        except web.HTTPException:  # aiohttp's own refusals: node_app answers them as an ErrorBody
            raise
        except Exception as exc:  # a bug or a closed vote record: still a JSON answer, never a vote
            self.log.failure("internal_error", task_hash, error=f"{type(exc).__name__}: {exc}")
            return self._error_response(500, "internal_error", f"{type(exc).__name__}: {exc}")
        finally:
            self.metrics.in_flight.dec()
            self.metrics.latency.labels(step="attest").observe(time.perf_counter() - started)
        self.log.step(
            "task.answered",
            task_hash,
            side=side(vote.is_approved),
            operator_id=vote.operator_id,
            replayed=replayed,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return web.json_response(vote.to_wire())

    async def _admit_attest(self, request: web.Request) -> tuple[AttestRequest, TaskInfo, str]:
        """The request, its task and its signer, once it passed the gate (:mod:`.gate`)."""
        gate = self._gate
        gate.admit_peer(request)
        attest = parse_attest(await gate.read_body(request, MAX_ATTEST_BODY_BYTES))
        gate.check_fields(attest)
        view = self._view()
        # The digest is bound to the center and chain the request names: one naming another
        # deployment is then refused as such (wrong_center, wrong_chain) by check_request.
        signer = await gate.admit_signer(
            request.headers, view, ATTEST_REQUEST_TAG, attest.chain_id, attest.attestation_center, attest.task_hash
        )
        task = task_info(attest.task)
        await gate.check_performer(view, signer, task.performer)
        return attest, task, signer

    async def _vote(self, attest: AttestRequest, task: TaskInfo) -> tuple[Vote, bool]:
        """Check the request, then answer the recorded vote or decide, sign and record a new one."""
        check_request(attest, task, self.attestation_center, self.chain_id)
        operator_id = await self._membership.check(self._view(), task.task_definition_id)

        recorded = await asyncio.to_thread(self.store.get, attest.task_hash)
        if recorded is None:
            async with self._task_lock(attest.task_hash):
                # A request for the same task may have recorded its vote while this one waited.
                recorded = await asyncio.to_thread(self.store.get, attest.task_hash)
                if recorded is None:
                    recorded = await self._decide_and_sign(attest, task, operator_id)
                    if recorded.created:
                        self.votes_signed.labels(side=side(recorded.is_approved)).inc()
                        return vote_of(recorded), False
        self.votes_replayed.inc()
        return vote_of(recorded), True

    async def _decide_and_sign(self, attest: AttestRequest, task: TaskInfo, operator_id: int) -> StoredVote:
        assert self._validation is not None
        number, _block, approved_on_chain = await self._view().task_record(attest.task_hash)
        if number:
            raise Refusal(
                409,
                "already_landed",
                f"task 0x{attest.task_hash.hex()} landed on-chain as number "
                f"{number} ({side(approved_on_chain)}): there is nothing left to vote on",
            )
        asked = time.perf_counter()
        outcome = "error"
        try:
            approved = await self._validation.validate(attest.task)
            outcome = side(approved)
        except ServiceUnavailable as exc:
            outcome = "unavailable"
            raise Refusal(503, "service_unavailable", str(exc)) from None
        except ServiceError as exc:
            detail = exc.service_message or str(exc)
            raise Refusal(502, "service_error", f"validation service at {exc.url} failed: {detail}") from None
        finally:
            self.validation_latency.labels(outcome=outcome).observe(time.perf_counter() - asked)
        self.log.step(
            "task.validated", attest.task_hash, side=side(approved), ms=round((time.perf_counter() - asked) * 1000, 1)
        )

        digest = task.vote_hash(self.attestation_center, self.chain_id, approved)
        signature = self.config.bls.sign(digest)  # ~1.2 ms of pure Python: a thread hop would cost more
        self.log.step("task.signed", attest.task_hash, side=side(approved))
        return await asyncio.to_thread(
            self.store.record_or_get,
            attest.task_hash,
            approved,
            signature.words(),
            operator_id,
            task_definition_id=task.task_definition_id,
            proof_of_task=task.proof_of_task,
            performer=task.performer,
        )

    @contextlib.asynccontextmanager
    async def _task_lock(self, task_hash: bytes) -> AsyncIterator[None]:
        lock, users = self._task_locks.get(task_hash, (asyncio.Lock(), 0))
        self._task_locks[task_hash] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._task_locks[task_hash]
            if users <= 1:
                del self._task_locks[task_hash]
            else:
                self._task_locks[task_hash] = (lock, users - 1)

    def _view(self) -> ChainView:
        if self._chain is None:
            raise Refusal(503, "chain_unavailable", "the attester is not connected to the chain (not started)")
        return self._chain

    # -- POST /p2p/message ------------------------------------------------------------------------

    async def _handle_message(self, request: web.Request) -> web.Response:
        """Relay a custom message signed by an active operator to the Validation Service and answer
        what it answered."""
        url = self.config.service_base_url + MESSAGE_PATH
        if self._http is None:
            return self._error_response(503, "service_unavailable", "the attester is not started")
        try:
            self._gate.admit_peer(request)
            body = await self._gate.read_body(request, MAX_MESSAGE_BODY_BYTES)
            signer = await self._gate.admit_signer(
                request.headers,
                self._view(),
                P2P_MESSAGE_TAG,
                self.chain_id,
                self.attestation_center,
                keccak(body),
                timed=True,
            )
        except Refusal as refusal:
            self.refusals.labels(reason=refusal.code).inc()
            self.log.step(
                "message.refused",
                level=logging.WARNING,
                reason=refusal.code,
                status=refusal.status,
                message=refusal.message,
            )
            return self._error_response(refusal.status, refusal.code, refusal.message)
        try:
            async with self._http.post(
                url,
                data=body,
                headers={"Content-Type": request.headers.get("Content-Type", "application/json")},
                timeout=aiohttp.ClientTimeout(total=self.config.service_timeout),
            ) as answer:
                payload = await answer.read()
                status = answer.status
                content_type = answer.headers.get("Content-Type", "application/json")
        except TimeoutError:
            return self._message_failed(url, f"no answer within {self.config.service_timeout:g} s")
        except aiohttp.ClientError as exc:
            return self._message_failed(url, f"{type(exc).__name__}: {exc}")
        self.log.step("message.relayed", status=status, bytes=len(body), signer=signer)
        return web.Response(status=status, body=payload, headers={"Content-Type": content_type})

    def _message_failed(self, url: str, reason: str) -> web.Response:
        self.log.failure("message_unrelayed", url=url, error=reason)
        return self._error_response(503, "service_unavailable", f"message endpoint at {url} is unreachable: {reason}")

    def _error_response(self, status: int, code: str, message: str) -> web.Response:
        """An error answer whose message names the RPC and service URLs by scheme and host only
        (their paths and credentials often hold a provider's API key)."""
        config = self.config
        public = scrub_urls(message, config.rpc_url, config.validation_url, config.service_base_url)
        return error_response(status, code, public)

    # -- GET /health ------------------------------------------------------------------------------

    async def _handle_health(self, _request: web.Request) -> web.Response:
        """Who this attester is and whether what it depends on answers (always 200: read ``status``)."""
        service_ok = await self._service_reachable()
        block: int | None = None
        if self._w3 is not None:
            try:
                with rpc_deadline(_HEALTH_PROBE_TIMEOUT):  # an outage answers "degraded" now, not later
                    block = int(await self._w3.eth.block_number)
            except Exception:
                block = None
        provider = self._rpc.provider if self._rpc is not None else None
        votes = int(self._recorded_count()) if self._store is not None else 0
        healthy = service_ok and block is not None
        return web.json_response(
            {
                "status": "ok" if healthy else "degraded",
                "node": self.config.name,
                "address": self.address,
                "operatorId": self.operator_id,
                "attestationCenter": self.attestation_center,
                "chainId": self.chain_id,
                "block": block,
                "chainReachable": block is not None,
                "rpcEndpoints": provider.policy.status() if provider is not None else [],
                "votesRecorded": votes,
                "validationUrl": redact_url(self.config.validation_url),
                "serviceReachable": service_ok,
            }
        )

    async def _service_reachable(self) -> bool:
        """Any HTTP answer counts: Othentic's example services have no /health route."""
        if self._http is None:
            return False
        try:
            async with self._http.get(
                self.config.service_base_url + HEALTH_PATH, timeout=aiohttp.ClientTimeout(total=_HEALTH_PROBE_TIMEOUT)
            ):
                return True
        except (TimeoutError, aiohttp.ClientError):
            return False
