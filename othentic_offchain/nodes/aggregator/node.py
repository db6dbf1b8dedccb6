"""The aggregator node: takes tasks over JSON-RPC, collects the attesters' votes, lands the tasks.

    node = AggregatorNode(AggregatorConfig(rpc_url, deployment, ecdsa_key, db_path="agg.sqlite3",
                                           attesters={3: "http://10.0.0.3:9000"}))
    url = await node.start()          # JSON-RPC 2.0 on POST {url}/ and {url}/rpc
    ...
    await node.stop()

JSON-RPC methods (Othentic's names and positional params, named params accepted too):

* ``sendTask(proofOfTask, data, taskDefinitionId, performerAddress, signature[, signatureType, targetChainId])``
  -> the taskHash (0x-hex). The task is checked (formats, the performer's signature, the
  definition, the performer's registration), stored, and only then answered; everything after
  runs in the background. Sending a known task again answers the same hash and does nothing.
* ``sendCustomMessage(data)`` -> how many attesters took the message (``POST /p2p/message``).
* ``taskStatus(taskHash)`` -> status, side, powers, votes, transaction, task number, error.
* ``health`` (also ``GET /health``); ``GET /metrics`` (Prometheus).

Refusals of ``sendTask`` (nothing is stored for them): ``-32602`` for a malformed param (the
message names it), and the application codes below for a task that is well formed but not
acceptable.

A task's life, each step stored before the step it enables (see :mod:`.tasks_db`):

1. ``collecting``: an :class:`~.protocol.AttestRequest` goes to every member of the definition's
   operator set at once (URLs from :class:`~.discovery.AttesterDirectory`); each vote is checked
   (task hash, operator id, a point on the curve) and stored; powers are the members' stakes.
   As soon as one side reaches the contract's threshold, the node optionally waits ``delay`` for
   more votes, then submits. Attesters that do not answer are asked again until ``task_timeout``;
   a task that never reaches a threshold fails with ``no_quorum``.
2. the submission is simulated (``eth_estimateGas``); an ``InvalidAggregateSignature`` revert
   starts a bisection that finds the bad votes with the pairing precompile (``eth_call``, never a
   pairing in Python) and drops them; a ``TaskAlreadySubmitted`` revert means it landed already;
   reverts that stale cached chain state explains are retried after a refresh, a few times.
3. ``submitting``: the signed transaction's bytes, hash and nonce are stored, then broadcast.
4. ``landed`` (task number from the ``TaskSubmitted``/``TaskRejected`` event or the on-chain
   ``taskRecord``) or ``failed`` (reason).

A restart resumes every open task: a ``submitting`` one is first looked up on-chain (receipt,
``taskRecord``); if its transaction is neither mined nor superseded, the very same signed bytes
are sent again, so a task is never sent in two different transactions by a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import is_checksum_address, keccak, to_checksum_address

from othentic_offchain.chain.artifacts import load_artifact
from othentic_offchain.chain.client import ErrorDecoder, TransactionReverted
from othentic_offchain.chain.deploy import DeploymentRecord
from othentic_offchain.chain.rpc import RpcConnection
from othentic_offchain.chain.sender import AsyncTxSender
from othentic_offchain.chain.types import TaskInfo, TaskSubmission
from othentic_offchain.chain.view import ChainView, DefinitionView, UnknownDefinition
from othentic_offchain.crypto.bls import aggregate_signatures
from othentic_offchain.crypto.bn254 import G1Point, G2Point, InvalidPoint
from othentic_offchain.crypto.ecdsa import InvalidTaskSignature, recover_task_signer
from othentic_offchain.crypto.verify import PrecompileBackend, verify
from othentic_offchain.jsonrpc import (
    INVALID_PARAMS,
    ApplicationError,
    JsonRpcServer,
    Param,
    as_hex_bytes,
    as_int,
    as_str,
)
from othentic_offchain.nodes.aggregator.discovery import AttesterDirectory
from othentic_offchain.nodes.aggregator.store import TaskRow, TasksDB, TaskStatus
from othentic_offchain.nodes.common.lifecycle import NodeLifecycle
from othentic_offchain.nodes.common.observability import NodeMetrics, TaskLog
from othentic_offchain.nodes.common.protocol import (
    ATTEST_PATH,
    HEALTH_PATH,
    MESSAGE_PATH,
    METRICS_PATH,
    AttestRequest,
    Vote,
    wire_task,
)

__all__ = [
    "AggregatorConfig",
    "AggregatorNode",
    "INVALID_SIGNATURE",
    "UNKNOWN_DEFINITION",
    "DEFINITION_EXPIRED",
    "PERFORMER_NOT_ACTIVE",
    "WRONG_CHAIN",
    "UNSUPPORTED_SIGNATURE_TYPE",
    "UNKNOWN_TASK",
    "BUSY",
    "CHAIN_UNAVAILABLE",
]

logger = logging.getLogger("othentic.aggregator")

# Application error codes of the aggregator's JSON-RPC (-32000..-32099).
INVALID_SIGNATURE = -32001  #: the signature does not recover to performerAddress
UNKNOWN_DEFINITION = -32002  #: no task definition with that id on-chain
DEFINITION_EXPIRED = -32003  #: the definition's blockExpiry has passed
PERFORMER_NOT_ACTIVE = -32004  #: performerAddress is not an active operator
WRONG_CHAIN = -32005  #: targetChainId is not the chain this aggregator submits to
UNSUPPORTED_SIGNATURE_TYPE = -32006  #: signatureType "bls": performers sign with ECDSA here
UNKNOWN_TASK = -32010  #: taskStatus of a hash this aggregator never accepted
BUSY = -32029  #: too many tasks open: retry later
CHAIN_UNAVAILABLE = -32050  #: the RPC endpoint failed while checking the task: retry later

_TASK_SUBMITTED = keccak(
    text="TaskSubmitted(uint64,uint16,bytes32,address,address,string,bytes,uint32[],uint256,uint256)"
)
_TASK_REJECTED = keccak(
    text="TaskRejected(uint64,uint16,bytes32,address,address,string,bytes,uint32[],uint256,uint256)"
)

#: Reverts after which the task cannot land, with the failure reason stored for it.
_FINAL_REVERTS = {
    "TaskDefinitionExpired": "expired",
    "UnknownTaskDefinition": "unknown_definition",
    "InvalidPerformerSignature": "invalid_performer_signature",
    "PerformerNotActive": "performer_not_active",
}


@dataclass
class AggregatorConfig:
    """Everything one aggregator needs.

    ``ecdsa_key`` is the account that submits (it must be an active operator: the contract checks
    it). ``attesters`` maps operator ids or addresses to URLs and wins over the endpoints published
    on-chain. ``delay`` (seconds, Othentic's ``--delay``) is how long to wait for more votes once a
    side reached its threshold: more signers means fewer non-signers to pay for and more rewards
    for the honest. ``vote_timeout`` bounds one request to one attester, ``task_timeout`` the time
    a task may spend collecting votes before it fails with ``no_quorum``.
    ``max_requests_per_attester`` bounds the vote requests in flight to one attester: under a burst
    the requests wait here, where ``vote_timeout`` is not yet running, instead of piling up at the
    attester until they all time out.
    """

    rpc_url: str
    deployment: DeploymentRecord
    ecdsa_key: str
    host: str = "127.0.0.1"
    port: int = 0
    db_path: str | Path = "aggregator-tasks.sqlite3"
    attesters: Mapping[int | str, str] = field(default_factory=dict)
    delay: float = 0.0
    vote_timeout: float = 5.0
    task_timeout: float = 60.0
    max_proof_length: int = 1024
    max_concurrent_tasks: int = 256
    max_open_tasks: int = 100_000
    max_connections: int = 512
    max_requests_per_attester: int = 16
    max_request_bytes: int = 1 << 20
    max_batch: int = 100
    submit_retries: int = 3
    retry_interval: float = 0.5
    receipt_timeout: float = 120.0
    receipt_poll_interval: float = 0.05
    chain_refresh_interval: float = 0.5
    db_synchronous: str = "FULL"
    name: str = "aggregator"

    @property
    def address(self) -> str:
        return Account.from_key(self.ecdsa_key).address


# --- small helpers ------------------------------------------------------------------------------


def _parse_proof(limit: int):
    def parse(value: Any) -> str:
        text = as_str(value)
        if len(text) > limit:
            raise ValueError(f"{len(text)} characters, the limit is {limit}")
        return text

    return parse


def _parse_definition_id(value: Any) -> int:
    number = as_int(value)
    if not 0 <= number < 2**16:
        raise ValueError(f"must be a uint16 (0..65535), got {number}")
    return number


def _parse_address(value: Any) -> str:
    text = as_str(value)
    if len(text) != 42 or not text.startswith(("0x", "0X")):
        raise ValueError(f"expected an address (0x and 40 hex digits), got {text!r}")
    try:
        bytes.fromhex(text[2:])
    except ValueError:
        raise ValueError(f"expected an address (0x and 40 hex digits), got {text!r}") from None
    body = text[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(text):
        raise ValueError(f"address {text} has a wrong EIP-55 checksum (mixed case)")
    return to_checksum_address(text)


def _parse_signature(value: Any) -> bytes:
    raw = as_hex_bytes(value)
    if len(raw) != 65:
        raise ValueError(f"expected 65 bytes (r, s, v), got {len(raw)}")
    return raw


def _parse_signature_type(value: Any) -> str:
    text = as_str(value).strip().lower()
    if text not in ("ecdsa", "bls"):
        raise ValueError(f'expected "ecdsa" (or "bls", which is not supported), got {value!r}')
    return text


def _parse_task_hash(value: Any) -> bytes:
    raw = as_hex_bytes(value)
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}")
    return raw


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + bytes(value).hex()


def _side_name(side: bool | None) -> str | None:
    return None if side is None else ("approve" if side else "reject")


def _error_name(name: str) -> str:
    out = []
    for char in name:
        if char.isupper() and out:
            out.append("_")
        out.append(char.lower())
    return "".join(out)


class _Retry(Exception):
    """The submission did not go through for a reason a refresh and another try may fix.
    ``reason`` is a short code (a metric label, the stored failure reason if retries run out),
    ``message`` the details."""

    def __init__(self, reason: str, message: str = "", *, backoff: bool = True):
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message
        self.backoff = backoff


class _Recollect(Exception):
    """Votes were dropped (bad signatures): count again, ask again, without spending a retry."""


@dataclass
class _Work:
    """What the node holds in memory about one task while it processes it."""

    task_hash: bytes
    task: TaskInfo
    signature: bytes
    created_at: float
    votes: dict[int, tuple[bool, G1Point]] = field(default_factory=dict)
    bad: set[int] = field(default_factory=set)  # signatures found invalid by bisection
    refused: set[int] = field(default_factory=set)  # attesters that refused the request (4xx)
    request_body: bytes = b""

    def powers(self, members: Mapping[int, int]) -> tuple[int, int]:
        approve = reject = 0
        for operator_id, (side, _point) in self.votes.items():
            stake = members.get(operator_id)
            if stake is None:
                continue
            if side:
                approve += stake
            else:
                reject += stake
        return approve, reject

    def decided(self, definition: DefinitionView) -> bool | None:
        approve, reject = self.powers(definition.members)
        if definition.reached(approve, True):
            return True
        if definition.reached(reject, False):
            return False
        return None


# --- receipts -----------------------------------------------------------------------------------


class _ReceiptWatcher:
    """Waits for many transactions of one account with one poll loop.

    Polling each transaction's receipt would cost one RPC call per task per poll interval; this
    asks for the account's mined nonce once per interval and fetches a receipt only for a
    transaction whose nonce is now below it (mined, or superseded by another transaction).
    """

    def __init__(self, w3, address: str, interval: float):
        self.w3 = w3
        self.address = address
        self.interval = interval
        self._pending: dict[bytes, tuple[int, asyncio.Future, list[int]]] = {}
        self._task: asyncio.Task | None = None
        self._delay = interval

    async def wait(self, tx_hash: bytes, nonce: int, timeout: float) -> Any | None:
        """The receipt; None when the nonce was used by another transaction (this one never mines).
        Raises ``TimeoutError`` when neither happened within ``timeout``."""
        receipt = await _receipt_or_none(self.w3, tx_hash)
        if receipt is not None:
            return receipt
        self._delay = min(0.005, self.interval)  # look again soon: it is probably being mined now
        future = asyncio.get_running_loop().create_future()
        self._pending[tx_hash] = (nonce, future, [0])
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll(), name="aggregator-receipts")
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        finally:
            self._pending.pop(tx_hash, None)

    async def _poll(self) -> None:
        # A node that mines on arrival (anvil) has the receipt a few ms after the broadcast: look
        # soon after each new transaction, then back off to the interval.
        while self._pending:
            await asyncio.sleep(self._delay)
            self._delay = min(self._delay * 2, self.interval)
            try:
                mined_nonce = int(await self.w3.eth.get_transaction_count(self.address, "latest"))
                candidates = [
                    (h, entry)
                    for h, entry in list(self._pending.items())
                    if entry[0] < mined_nonce and not entry[1].done()
                ]
                receipts = await asyncio.gather(*(_receipt_or_none(self.w3, h) for h, _ in candidates))
            except Exception as exc:  # a transient RPC failure: poll again
                logger.debug("receipt poll failed: %s", exc)
                continue
            for (_tx_hash, (_nonce, future, misses)), receipt in zip(candidates, receipts):
                if future.done():
                    continue
                if receipt is not None:
                    future.set_result(receipt)
                else:
                    misses[0] += 1  # a node may index the receipt a moment after the nonce moves
                    if misses[0] >= 3:
                        future.set_result(None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


async def _receipt_or_none(w3, tx_hash: bytes) -> Any | None:
    try:
        return await w3.eth.get_transaction_receipt(tx_hash)
    except Exception as exc:
        if "not found" in str(exc).lower() or type(exc).__name__ == "TransactionNotFound":
            return None
        raise


_GAS_PAD = 60_000


class _EncodedCall:
    """A contract call encoded once, with what :class:`AsyncTxSender` uses of a web3 call
    (``estimate_gas``, ``build_transaction``, ``fn_name``).

    web3's contract functions look their ABI entry up on every use, hashing the signature of every
    function of the center's large ABI: several milliseconds per task on the hot path. The
    submission's calldata is ``selector || abi.encode(task, submission)``, encoded here directly.
    """

    def __init__(self, w3, to: str, data: bytes, fn_name: str):
        self.w3 = w3
        self.to = to
        self.data = data
        self.fn_name = fn_name

    async def estimate_gas(self, transaction: dict[str, Any]) -> int:
        return await self.w3.eth.estimate_gas({**transaction, "to": self.to, "data": self.data})

    async def call(self, transaction: dict[str, Any]) -> bytes:
        return await self.w3.eth.call({**transaction, "to": self.to, "data": self.data})

    async def build_transaction(self, transaction: dict[str, Any]) -> dict[str, Any]:
        return {**transaction, "to": self.to, "data": self.data, "value": 0}


class _SubmitTaskEncoder:
    """Encodes ``submitTask(task, submission)`` calldata from the center's ABI, once per call."""

    def __init__(self, abi: list[dict]):
        item = next(i for i in abi if i.get("type") == "function" and i.get("name") == "submitTask")
        self.types = [_canonical_type(p) for p in item["inputs"]]
        self.selector = keccak(text=f"submitTask({','.join(self.types)})")[:4]

    def encode(self, task: TaskInfo, submission: TaskSubmission) -> bytes:
        return self.selector + abi_encode(self.types, [task.abi(), submission.abi()])


def _canonical_type(param: dict) -> str:
    kind = param["type"]
    if kind.startswith("tuple"):
        return f"({','.join(_canonical_type(c) for c in param['components'])}){kind[5:]}"
    return kind


# --- the node -----------------------------------------------------------------------------------


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
        self.metrics = NodeMetrics(config.name)
        self.log = TaskLog(config.name, self.metrics)
        m = self.metrics
        self.m_outcomes = m.counter("othentic_aggregator_tasks_total", "sendTask calls and task outcomes", ["outcome"])
        self.m_votes = m.counter("othentic_aggregator_votes_total", "Votes received, by side or why unused", ["side"])
        self.m_requests = m.counter("othentic_aggregator_attest_requests_total", "Vote requests, by result", ["result"])
        self.m_submissions = m.counter("othentic_aggregator_submissions_total", "Submissions, by result", ["result"])
        self.m_rpc = m.counter(
            "othentic_aggregator_rpc_calls_total", "JSON-RPC calls, by method and error code", ["method", "code"]
        )
        self.m_latency = m.histogram("othentic_aggregator_task_latency_seconds", "From accepted to landed")
        self.m_bisections = m.counter(
            "othentic_aggregator_bisections_total", "Aggregates that failed and were bisected"
        )

        self.rpc = JsonRpcServer(
            max_request_bytes=config.max_request_bytes, max_batch=config.max_batch, name=config.name
        )
        self.rpc.on_call = self._count_call
        limit = config.max_proof_length
        self.rpc.register(
            "sendTask",
            self._send_task,
            [
                Param("proofOfTask", _parse_proof(limit)),
                Param("data", as_hex_bytes),
                Param("taskDefinitionId", _parse_definition_id, aliases=("taskDefinitionID",)),
                Param("performerAddress", _parse_address, aliases=("performer",)),
                Param("signature", _parse_signature),
                Param("signatureType", _parse_signature_type, default="ecdsa"),
                Param("targetChainId", as_int, default=None),
            ],
        )
        self.rpc.register("sendCustomMessage", self._send_custom_message, [Param("data", as_hex_bytes)])
        self.rpc.register("taskStatus", self._task_status, [Param("taskHash", _parse_task_hash)])
        self.rpc.register("health", self._health)

        self.app = web.Application()
        self.app.router.add_post("/", self.rpc.handle)
        self.app.router.add_post("/rpc", self.rpc.handle)
        self.app.router.add_get(HEALTH_PATH, self._handle_health)
        self.app.router.add_get(METRICS_PATH, self._handle_metrics)

        self.db: TasksDB | None = None
        self.w3: Any = None
        self.chain: ChainView | None = None
        self.sender: AsyncTxSender | None = None
        self.directory: AttesterDirectory | None = None
        self.chain_id = int(config.deployment.chain_id)
        self._session: aiohttp.ClientSession | None = None
        self._rpc: RpcConnection | None = None
        self._gas_by_shape: dict[tuple[int, int, int], int] = {}
        self._runner: web.AppRunner | None = None
        self._watcher: _ReceiptWatcher | None = None
        self._backend: PrecompileBackend | None = None
        self._decoder: ErrorDecoder | None = None
        self._encoder: _SubmitTaskEncoder | None = None
        self._semaphore = asyncio.Semaphore(config.max_concurrent_tasks)
        self._tasks: dict[bytes, asyncio.Task] = {}
        self._background: set[asyncio.Task] = set()
        self._open_count = 0
        self._stopping = False
        self._reads: dict[tuple, asyncio.Future] = {}
        self._attester_slots: dict[str, asyncio.Semaphore] = {}

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> str:
        """Open, connect, resume, bind; returns the base URL (``http://host:port``)."""
        if self._runner is not None:
            raise RuntimeError("aggregator already started")
        config = self.config
        self._stopping = False
        try:
            self._rpc = RpcConnection(config.rpc_url)
            self.w3 = await self._rpc.open(expect_chain_id=self.chain_id)
            self.chain = ChainView(self.w3, config.deployment, refresh_interval=config.chain_refresh_interval)
            await self.chain.refresh(force=True)
            center_abi = load_artifact("IAttestationCenter").abi
            self._decoder = ErrorDecoder(
                [center_abi] + [load_artifact(name).abi for name in ("BN254", "RewardsVault", "PenaltyManager")]
            )
            self._encoder = _SubmitTaskEncoder(center_abi)
            self.db = await TasksDB.open(config.db_path, synchronous=config.db_synchronous)
            self.directory = AttesterDirectory(self.chain, config.attesters)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=config.max_connections, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(total=config.vote_timeout),
            )
            self._backend = PrecompileBackend(_sync_web3(config.rpc_url))
            if not await self.chain.is_active(self.address):
                self.log.step(
                    "node.not_an_operator",
                    level=logging.WARNING,
                    account=self.address,
                    message="the aggregator's account is not an active operator: submissions will "
                    "revert with AggregatorNotActive until it registers",
                )
            # Transactions a previous run signed come first: they own their nonces.
            await self._recover_submissions()
            self.sender = AsyncTxSender(
                self.w3,
                config.ecdsa_key,
                chain_id=self.chain_id,
                decoder=self._decoder,
                receipt_timeout=config.receipt_timeout,
            )
            self._watcher = _ReceiptWatcher(self.w3, self.address, config.receipt_poll_interval)
            open_rows = await self.db.open_tasks()
            for row in open_rows:
                self._spawn(row.task_hash)
            self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=5.0)
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
            center=self.chain.address,
            chain_id=self.chain_id,
            db=str(config.db_path),
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
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        pending = list(self._tasks.values()) + list(self._background)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()
        self._background.clear()
        if self._watcher is not None:
            await self._watcher.close()
            self._watcher = None
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

    # --- JSON-RPC: sendTask ---------------------------------------------------------------------

    async def _send_task(
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
        if signatureType == "bls":
            self.m_outcomes.labels(outcome="refused").inc()
            raise ApplicationError(
                UNSUPPORTED_SIGNATURE_TYPE,
                'signatureType "bls" is not supported: sign taskHash with the performer\'s '
                'ECDSA key (signatureType "ecdsa")',
                {"signatureType": signatureType},
            )
        if targetChainId is not None and targetChainId != self.chain_id:
            self.m_outcomes.labels(outcome="refused").inc()
            raise ApplicationError(
                WRONG_CHAIN,
                f"targetChainId {targetChainId} is not this aggregator's chain ({self.chain_id})",
                {"targetChainId": targetChainId, "chainId": self.chain_id},
            )
        task = TaskInfo(proofOfTask, data, performerAddress, taskDefinitionId)
        task_hash = task.task_hash()
        try:
            recovered = recover_task_signer(task_hash, signature)
        except InvalidTaskSignature as exc:
            self.m_outcomes.labels(outcome="refused").inc()
            raise ApplicationError(
                INVALID_SIGNATURE,
                f"signature is not a valid signature of taskHash: {exc}",
                {"taskHash": _hex(task_hash)},
            ) from None
        if recovered != task.performer:
            self.m_outcomes.labels(outcome="refused").inc()
            raise ApplicationError(
                INVALID_SIGNATURE,
                f"signature recovers to {recovered}, not to performerAddress "
                f"{task.performer} (the performer signs the raw taskHash {_hex(task_hash)}, "
                "without the EIP-191 prefix)",
                {"taskHash": _hex(task_hash), "performer": task.performer, "recovered": recovered},
            )
        db = self._db()
        if task_hash in self._tasks or await db.get(task_hash) is not None:
            self.m_outcomes.labels(outcome="duplicate").inc()
            self.log.step("task.duplicate", task_hash)
            return _hex(task_hash)
        await self._check_on_chain(task)
        if self._open_count >= self.config.max_open_tasks:
            self.m_outcomes.labels(outcome="refused").inc()
            raise ApplicationError(
                BUSY,
                f"{self._open_count} tasks are open, the limit is {self.config.max_open_tasks}: retry later",
                {"open": self._open_count},
            )
        inserted = await db.insert_task(task_hash, task, signature)
        if not inserted:  # the same task raced in through another call
            self.m_outcomes.labels(outcome="duplicate").inc()
            return _hex(task_hash)
        self.m_outcomes.labels(outcome="accepted").inc()
        self.log.step(
            "task.accepted",
            task_hash,
            definition=task.task_definition_id,
            performer=task.performer,
            proof_of_task=task.proof_of_task,
        )
        self._spawn(task_hash)
        return _hex(task_hash)

    async def _shared(self, key: tuple, factory) -> Any:
        """One chain read for every caller that needs the same answer at the same time: a burst of
        tasks after a cache refresh would otherwise send one identical ``eth_call`` each."""
        future = self._reads.get(key)
        if future is None:
            future = asyncio.ensure_future(factory())
            self._reads[key] = future
            future.add_done_callback(lambda done: self._reads.pop(key, None) if self._reads.get(key) is done else None)
        return await asyncio.shield(future)

    async def _definition(self, definition_id: int) -> DefinitionView:
        return await self._shared(("definition", definition_id), lambda: self._chain().definition(definition_id))

    async def _check_on_chain(self, task: TaskInfo) -> None:
        chain = self._chain()
        try:
            definition = await self._definition(task.task_definition_id)
            active = await self._shared(("active", task.performer), lambda: chain.is_active(task.performer))
        except UnknownDefinition:
            self.m_outcomes.labels(outcome="refused").inc()
            raise ApplicationError(
                UNKNOWN_DEFINITION,
                f"task definition {task.task_definition_id} does not exist",
                {"taskDefinitionId": task.task_definition_id},
            ) from None
        except Exception as exc:
            self.m_outcomes.labels(outcome="refused").inc()
            raise ApplicationError(
                CHAIN_UNAVAILABLE,
                f"could not read the chain to check the task: {type(exc).__name__}: {exc}; retry later",
                {"retry": True},
            ) from None
        if definition.expired_at(chain.block_number):
            self.m_outcomes.labels(outcome="refused").inc()
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
        if not active:
            self.m_outcomes.labels(outcome="refused").inc()
            raise ApplicationError(
                PERFORMER_NOT_ACTIVE,
                f"performer {task.performer} is not an active operator: the contract would refuse the task",
                {"performer": task.performer},
            )

    # --- JSON-RPC: the others -------------------------------------------------------------------

    async def _send_custom_message(self, data: bytes) -> int:
        """Forward ``{"data": ...}`` to every attester's ``/p2p/message`` at once."""
        urls = await self._attester_urls()
        body = json.dumps({"data": _hex(data)}).encode()

        async def deliver(url: str) -> bool:
            try:
                async with self._http().post(
                    url + MESSAGE_PATH, data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    await response.read()
                    return 200 <= response.status < 300
            except (TimeoutError, aiohttp.ClientError):
                return False

        results = await asyncio.gather(*(deliver(u) for u in urls))
        delivered = sum(results)
        self.log.step("message.forwarded", attesters=len(urls), delivered=delivered, bytes=len(data))
        return delivered

    async def _attester_urls(self) -> list[str]:
        directory = self._directory()
        urls = directory.static_urls()
        try:
            ids = await self._chain().center.functions.activeOperatorIds().call()
            for operator_id in ids:
                url = await directory.url_for(int(operator_id))
                if url is not None:
                    urls.append(url)
        except Exception as exc:
            self.log.step("message.chain_unavailable", level=logging.WARNING, error=str(exc))
        return list(dict.fromkeys(urls))

    async def _task_status(self, taskHash: bytes) -> dict[str, Any]:
        db = self._db()
        row = await db.get(taskHash)
        if row is None:
            raise ApplicationError(
                UNKNOWN_TASK, f"task {_hex(taskHash)} is unknown to this aggregator", {"taskHash": _hex(taskHash)}
            )
        votes = await db.votes(taskHash)
        approve, reject, total = row.approve_power, row.reject_power, row.total_power
        if row.is_open or total == 0:
            with contextlib.suppress(Exception):
                members = (await self._chain().definition(row.task_definition_id)).members
                approve = sum(members.get(v.operator_id, 0) for v in votes if v.is_approved and v.valid is not False)
                reject = sum(members.get(v.operator_id, 0) for v in votes if not v.is_approved and v.valid is not False)
                total = sum(members.values())
        return {
            "taskHash": _hex(row.task_hash),
            "status": row.status.value,
            "side": _side_name(row.side),
            "approvePower": str(approve),
            "rejectPower": str(reject),
            "totalPower": str(total),
            "votes": [
                {"operatorId": v.operator_id, "side": _side_name(v.is_approved), "valid": v.valid is not False}
                for v in votes
            ],
            "nonSigners": list(row.non_signers) if row.non_signers is not None else None,
            "txHash": _hex(row.tx_hash),
            "taskNumber": row.task_number,
            "attempts": row.attempts,
            "error": row.error,
            "taskDefinitionId": row.task_definition_id,
            "performer": row.performer,
            "proofOfTask": row.proof_of_task,
            "createdAt": row.created_at,
            "finishedAt": row.finished_at,
        }

    async def _health(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "status": "ok",
            "node": self.config.name,
            "chainId": self.chain_id,
            "attestationCenter": to_checksum_address(self.config.deployment.attestation_center),
            "aggregator": self.address,
            "tasksInFlight": len(self._tasks),
            "db": str(self.config.db_path),
        }
        try:
            info["block"] = int(await self.w3.eth.block_number)
        except Exception as exc:
            info["status"] = "degraded"
            info["block"] = None
            info["error"] = f"chain unreachable: {type(exc).__name__}: {exc}"
        if self.db is not None:
            info["tasks"] = await self.db.counts()
        return info

    async def _handle_health(self, _request: web.Request) -> web.Response:
        return web.json_response(await self._health())

    async def _handle_metrics(self, request: web.Request) -> web.StreamResponse:
        return await self.metrics.handler(request)

    def _count_call(self, method: str | None, code: int | None) -> None:
        self.m_rpc.labels(method=method or "-", code="ok" if code is None else str(code)).inc()
        if method == "sendTask" and code == INVALID_PARAMS:  # application refusals count themselves
            self.m_outcomes.labels(outcome="refused").inc()

    # --- processing -----------------------------------------------------------------------------

    def _spawn(self, task_hash: bytes) -> None:
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
                self.m_outcomes.labels(outcome="failed").inc()
                self.db.mark_failed(task_hash, f"internal_error: {type(exc).__name__}: {exc}")
        finally:
            self._tasks.pop(task_hash, None)
            self._open_count -= 1
            self.metrics.in_flight.dec()

    async def _process(self, task_hash: bytes) -> None:
        db = self._db()
        row = await db.get(task_hash)
        if row is None or not row.is_open:
            return
        work = _Work(task_hash, row.task, row.performer_signature, row.created_at)
        for vote in await db.votes(task_hash):
            if vote.valid is False:
                work.bad.add(vote.operator_id)
            else:
                work.votes[vote.operator_id] = (vote.is_approved, G1Point(*vote.signature))
        if row.status is TaskStatus.SUBMITTING:
            if await self._finish_stored_submission(work, row):
                return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.task_timeout
        retries = 0
        while True:
            definition = await self._definition_for(work)
            if definition is None:
                return
            db.set_collecting(task_hash, total_power=definition.total_power)
            side = await self._collect(work, definition, deadline)
            if side is None:
                # Attesters refuse to vote on a task that already landed (someone else submitted
                # it): that is a success, not a missing quorum.
                if await self._landed_on_chain(work):
                    return
                approve, reject = work.powers(definition.members)
                await self._fail(
                    work,
                    "no_quorum",
                    approve=approve,
                    reject=reject,
                    total=definition.total_power,
                    message=f"no side reached its threshold within {self.config.task_timeout:g} s: "
                    f"approve {approve}, reject {reject} of {definition.total_power}",
                )
                return
            try:
                await self._submit(work, definition, side)
                return
            except _Recollect:
                continue
            except _Retry as retry:
                retries += 1
                db.note_error(task_hash, f"retry {retries}: {retry}")
                self.log.step("task.retry", task_hash, reason=retry.reason, message=retry.message, retry=retries)
                if retries > self.config.submit_retries:
                    approve, reject = work.powers(definition.members)
                    await self._fail(
                        work,
                        retry.reason,
                        approve=approve,
                        reject=reject,
                        total=definition.total_power,
                        message=retry.message or None,
                    )
                    return
                self._chain().invalidate()
                if retry.backoff:
                    await asyncio.sleep(min(0.25 * 2 ** (retries - 1), 4.0) * (0.5 + random.random()))

    async def _definition_for(self, work: _Work) -> DefinitionView | None:
        chain = self._chain()
        definition_id = work.task.task_definition_id
        for attempt in range(5):
            try:
                definition = await self._definition(definition_id)
                break
            except UnknownDefinition:
                await self._fail(work, "unknown_definition")
                return None
            except Exception as exc:  # the RPC endpoint hiccuped: wait a little
                if attempt == 4:
                    raise
                self.log.step("chain.unavailable", work.task_hash, level=logging.WARNING, error=str(exc))
                await asyncio.sleep(0.5 * (attempt + 1))
        if definition.expired_at(chain.block_number):
            await self._fail(
                work, "expired", message=f"definition {definition_id} expired at block {definition.params.block_expiry}"
            )
            return None
        return definition

    async def _fail(
        self,
        work: _Work,
        reason: str,
        *,
        approve: int | None = None,
        reject: int | None = None,
        total: int | None = None,
        message: str | None = None,
    ) -> None:
        text = reason if message is None else f"{reason}: {message}"
        await self._db().mark_failed(
            work.task_hash, text, approve_power=approve, reject_power=reject, total_power=total
        )
        self.m_outcomes.labels(outcome="failed").inc()
        self.log.failure(reason, work.task_hash, approve=approve, reject=reject, total=total, message=message)

    # --- collecting votes -----------------------------------------------------------------------

    async def _collect(self, work: _Work, definition: DefinitionView, deadline: float) -> bool | None:
        """Ask the members that have not voted until one side holds its threshold (then, with a
        ``delay``, a little longer) or the deadline passes. Returns the side, or None."""
        loop = asyncio.get_running_loop()
        config = self.config
        if not work.request_body:
            work.request_body = json.dumps(
                AttestRequest(
                    task=wire_task(work.task),
                    task_hash=work.task_hash,
                    performer_signature=work.signature,
                    attestation_center=self._chain().address,
                    chain_id=self.chain_id,
                ).to_wire(),
                separators=(",", ":"),
            ).encode()
        directory = self._directory()
        side = work.decided(definition)
        pending: dict[asyncio.Task, int] = {}
        urls: dict[int, str | None] = {}

        def launch(operator_id: int) -> None:
            url = urls.get(operator_id)
            if url is None:
                return
            task = asyncio.create_task(self._ask(work, operator_id, url))
            pending[task] = operator_id

        if side is None or config.delay > 0:
            to_ask = [
                i for i in definition.members if i not in work.votes and i not in work.bad and i not in work.refused
            ]
            urls = {i: await directory.url_for(i) for i in to_ask}
            for operator_id in to_ask:
                launch(operator_id)
            no_url = [i for i in to_ask if urls.get(i) is None]
            if no_url:
                self.log.step("votes.no_endpoint", work.task_hash, level=logging.WARNING, operators=no_url)
        decided_at: float | None = loop.time() if side is not None else None
        transient: set[int] = set()
        try:
            while True:
                now = loop.time()
                if side is not None:
                    if decided_at is None:
                        decided_at = now
                    remaining = decided_at + config.delay - now
                    if config.delay <= 0 or not pending or remaining <= 0:
                        break
                    timeout = remaining
                else:
                    if not pending:
                        if not transient or now >= deadline:
                            break
                        await asyncio.sleep(min(config.retry_interval, max(deadline - now, 0)))
                        again, transient = transient, set()
                        for operator_id in again:
                            launch(operator_id)
                        continue
                    timeout = deadline - now
                    if timeout <= 0:
                        break
                done, _ = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    operator_id = pending.pop(task)
                    outcome = task.result()
                    if outcome == "transient":
                        transient.add(operator_id)
                    elif outcome == "refused":
                        work.refused.add(operator_id)
                if side is None:
                    side = work.decided(definition)
        finally:
            # Slow attesters still answer; their votes are kept (a retry may use them). When the
            # node is stopping they are cancelled with everything else.
            for task in pending:
                if self._stopping:
                    task.cancel()
                    continue
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        approve, reject = work.powers(definition.members)
        self.log.step(
            "votes.collected",
            work.task_hash,
            side=_side_name(side),
            approve=approve,
            reject=reject,
            total=definition.total_power,
            votes=len(work.votes),
        )
        return side

    async def _ask(self, work: _Work, operator_id: int, url: str) -> str:
        """One vote request. Returns "vote", "transient" (ask again later) or "refused"."""
        slots = self._attester_slots.get(url)
        if slots is None:
            slots = self._attester_slots[url] = asyncio.Semaphore(self.config.max_requests_per_attester)
        try:
            async with (
                slots,
                self._http().post(
                    url + ATTEST_PATH, data=work.request_body, headers={"Content-Type": "application/json"}
                ) as response,
            ):
                raw = await response.read()
                status = response.status
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            self.m_requests.labels(result="timeout").inc()
            return "transient"
        except (aiohttp.ClientError, OSError):
            self.m_requests.labels(result="unreachable").inc()
            return "transient"
        if status != 200:
            transient = status >= 500 or status in (408, 429)
            self.m_requests.labels(result="unavailable" if transient else "refused").inc()
            self.log.step(
                "vote.refused",
                work.task_hash,
                level=logging.INFO,
                operator=operator_id,
                status=status,
                body=raw[:300].decode(errors="replace"),
            )
            return "transient" if transient else "refused"
        try:
            vote = Vote.model_validate_json(raw)
            if vote.task_hash != work.task_hash:
                raise ValueError(f"the vote is for task {_hex(vote.task_hash)}")
            if vote.operator_id != operator_id:
                raise ValueError(f"the vote is signed as operator {vote.operator_id}, asked {operator_id}")
            point = vote.point.validate()
            if point.is_infinity:
                raise InvalidPoint("the signature is the point at infinity")
        except (ValueError, InvalidPoint) as exc:
            self.m_requests.labels(result="malformed").inc()
            self.m_votes.labels(side="malformed").inc()
            self.log.step("vote.malformed", work.task_hash, level=logging.WARNING, operator=operator_id, error=str(exc))
            return "refused"
        self.m_requests.labels(result="ok").inc()
        self.m_votes.labels(side=_side_name(vote.is_approved)).inc()
        if operator_id not in work.bad:
            work.votes[operator_id] = (vote.is_approved, point)
            if self.db is not None and not self._stopping:
                with contextlib.suppress(Exception):
                    self.db.record_vote(work.task_hash, operator_id, vote.is_approved, vote.signature)
        return "vote"

    # --- submitting -----------------------------------------------------------------------------

    async def _submit(self, work: _Work, definition: DefinitionView, side: bool) -> None:
        """Aggregate, simulate, sign, store, broadcast, wait; raises _Retry / _Recollect."""
        members = definition.members
        signers = sorted(i for i, (s, _p) in work.votes.items() if s == side and i in members)
        maximum = definition.params.maximum_number_of_attesters
        if maximum and len(signers) > maximum:  # the contract caps signers: keep the heaviest
            signers = sorted(sorted(signers, key=lambda i: (-members[i], i))[:maximum])
        signed_power = sum(members[i] for i in signers)
        if not definition.reached(signed_power, side):
            raise _Retry("quorum_lost", f"the {_side_name(side)} signers no longer hold the threshold", backoff=False)
        non_signers = sorted(set(members) - set(signers))
        signature = aggregate_signatures(work.votes[i][1] for i in signers)
        apk_g2 = await self._signers_apk(definition, signers, non_signers)
        submission = TaskSubmission(side, work.signature, signature, apk_g2, tuple(non_signers))
        encoder = self._encoder
        assert encoder is not None
        call = _EncodedCall(self.w3, self._chain().address, encoder.encode(work.task, submission), "submitTask")
        sender = self._sender()
        # Gas depends on the definition (hooks, calldata) and the number of non-signers; it is
        # estimated once per shape and kept, and every later task of that shape is checked with a
        # plain eth_call. The cached figure gets a fixed margin on top of the sender's (the hash to
        # G1 varies by a few thousand gas per message; the first task after a set change costs about
        # 40,000 more); a submission that reverts on-chain drops its shape's figure.
        shape = (work.task.task_definition_id, len(non_signers), len(call.data) // 256)
        try:
            cached = self._gas_by_shape.get(shape)
            if cached is None:
                gas = await sender.estimate(call)
                self._gas_by_shape[shape] = gas
            else:
                await sender.simulate(call)
                gas = cached + _GAS_PAD
        except TransactionReverted as exc:
            self.m_submissions.labels(result="simulation_reverted").inc()
            await self._on_simulation_revert(work, definition, side, signers, exc)
            return  # it finished the task (landed already, or failed for good), or raised
        except Exception as exc:
            raise _Retry("simulation_failed", f"{type(exc).__name__}: {exc}") from None
        approve, reject = work.powers(members)
        signed = await sender.sign(call, gas=int(gas * sender.gas_margin))
        try:
            await self._db().record_submission(
                work.task_hash,
                side=side,
                tx_hash=signed.tx_hash,
                raw_tx=signed.raw,
                nonce=signed.nonce,
                non_signers=non_signers,
                approve_power=approve,
                reject_power=reject,
                total_power=definition.total_power,
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            await self._burn_nonce(signed.nonce)  # a signed nonce left unsent would stall every later one
            raise
        self.log.step(
            "task.submitting",
            work.task_hash,
            side=_side_name(side),
            tx=_hex(signed.tx_hash),
            nonce=signed.nonce,
            signers=len(signers),
            non_signers=non_signers,
        )
        try:
            await sender.broadcast(signed)
        except Exception as exc:
            self.m_submissions.labels(result="broadcast_failed").inc()
            if await self._landed_on_chain(work):
                return
            self._db().set_collecting(work.task_hash)
            raise _Retry("broadcast_failed", f"{type(exc).__name__}: {exc}") from None
        self.m_submissions.labels(result="sent").inc()
        await self._settle(work, signed.tx_hash, signed.nonce, signed.raw)

    async def _signers_apk(self, definition: DefinitionView, signers: list[int], non_signers: list[int]) -> G2Point:
        """The signers' G2 key: the set's cached aggregate minus the few non-signers when that is
        fewer G2 additions (~0.6 ms each in Python, done off the event loop)."""
        chain = self._chain()
        # Warm the operator cache with one read per operator, however many tasks ask at once.
        await asyncio.gather(
            *(self._shared(("operator", i), lambda i=i: chain.operator(i)) for i in definition.members)
        )
        if non_signers and len(non_signers) < len(signers):
            full = await chain.signers_apk_g2(definition, list(definition.members))
            missing = await chain.operators(non_signers)

            def subtract() -> G2Point:
                total = full
                for operator_id in non_signers:
                    total = total - missing[operator_id].public.g2
                return total

            return await asyncio.to_thread(subtract)
        return await chain.signers_apk_g2(definition, signers)

    async def _on_simulation_revert(
        self, work: _Work, definition: DefinitionView, side: bool, signers: list[int], exc: TransactionReverted
    ) -> None:
        name = exc.error or ""
        if name == "TaskAlreadySubmitted":
            if await self._landed_on_chain(work):
                return
            raise _Retry("already_submitted", "TaskAlreadySubmitted, but no taskRecord to read yet")
        if name in _FINAL_REVERTS:
            approve, reject = work.powers(definition.members)
            await self._fail(
                work,
                _FINAL_REVERTS[name],
                approve=approve,
                reject=reject,
                total=definition.total_power,
                message=str(exc),
            )
            return
        if name == "InvalidAggregateSignature":
            self.m_bisections.inc()
            bad = await self._find_bad_votes(work, side, signers)
            if bad:
                work.bad.update(bad)
                for operator_id in bad:
                    work.votes.pop(operator_id, None)
                self._db().mark_votes_invalid(work.task_hash, bad)
                self.m_votes.labels(side="bad_signature").inc(len(bad))
                self.log.failure("bad_signature", work.task_hash, operators=sorted(bad))
                raise _Recollect()
            raise _Retry(
                "invalid_aggregate_signature", "every vote verifies on its own: the cached keys or set may be stale"
            )
        raise _Retry(_error_name(name) if name else "simulation_reverted", str(exc))

    async def _find_bad_votes(self, work: _Work, side: bool, signers: list[int]) -> set[int]:
        """Bisection over the signers: verify halves' aggregates through the pairing precompile."""
        digest = work.task.vote_hash(self._chain().address, self.chain_id, side)
        keys = await self._chain().operators(signers)
        backend = self._backend
        assert backend is not None

        def check(group: list[int]) -> bool:
            apk = G2Point.infinity()
            for operator_id in group:
                apk = apk + keys[operator_id].public.g2
            sigma = aggregate_signatures(work.votes[i][1] for i in group)
            return verify(apk, digest, sigma, backend)

        async def search(group: list[int]) -> set[int]:
            # ``group``'s aggregate is known to fail.
            if len(group) == 1:
                return set(group)
            middle = len(group) // 2
            left, right = group[:middle], group[middle:]
            left_ok, right_ok = await asyncio.gather(asyncio.to_thread(check, left), asyncio.to_thread(check, right))
            found: set[int] = set()
            if not left_ok:
                found |= await search(left)
            if not right_ok:
                found |= await search(right)
            return found

        bad = await search(list(signers))
        self.log.step("bisection.done", work.task_hash, signers=len(signers), bad=sorted(bad))
        return bad

    async def _settle(self, work: _Work, tx_hash: bytes, nonce: int, raw: bytes | None) -> None:
        """Wait for our transaction and store the outcome; raises _Retry when it did not land."""
        try:
            receipt = await self._wait_mined(tx_hash, nonce)
        except TimeoutError:
            if await self._landed_on_chain(work):
                return
            if raw is not None:  # still pending somewhere, or dropped: offer the same bytes again
                with contextlib.suppress(Exception):
                    await self.w3.eth.send_raw_transaction(raw)
                try:
                    receipt = await self._wait_mined(tx_hash, nonce)
                except TimeoutError:
                    receipt = None
            else:
                receipt = None
            if receipt is None:
                if await self._landed_on_chain(work):
                    return
                self._db().set_collecting(work.task_hash)
                raise _Retry("not_mined", f"not mined within {self.config.receipt_timeout:g} s, sent twice") from None
        if receipt is None:  # the nonce went to another transaction
            if await self._landed_on_chain(work):
                return
            self._db().set_collecting(work.task_hash)
            raise _Retry("superseded", "its nonce was used by another transaction", backoff=False)
        if int(receipt["status"]) == 1:
            found = self._event_in(receipt, work.task_hash)
            if found is not None:
                number, side = found
                await self._landed(work, number, side, int(receipt["blockNumber"]), tx_hash)
                return
        self.m_submissions.labels(result="reverted").inc()
        self._gas_by_shape.clear()  # perhaps out of gas: estimate again
        if await self._landed_on_chain(work):
            return
        self._db().set_collecting(work.task_hash)
        raise _Retry("reverted_on_chain", f"transaction {_hex(tx_hash)} reverted")

    async def _wait_mined(self, tx_hash: bytes, nonce: int) -> Any | None:
        watcher = self._watcher
        assert watcher is not None
        return await watcher.wait(tx_hash, nonce, self.config.receipt_timeout)

    def _event_in(self, receipt: Any, task_hash: bytes) -> tuple[int, bool] | None:
        center = self._chain().address.lower()
        for log in receipt["logs"]:
            if str(log["address"]).lower() != center:
                continue
            topics = [bytes(t) for t in log["topics"]]
            if len(topics) == 4 and topics[0] in (_TASK_SUBMITTED, _TASK_REJECTED) and topics[3] == task_hash:
                return int.from_bytes(topics[1], "big"), topics[0] == _TASK_SUBMITTED
        return None

    async def _landed_on_chain(self, work: _Work) -> bool:
        """Look the task up in the center's records; mark it landed if it is there."""
        try:
            number, block, approved = await self._chain().center.functions.taskRecord(work.task_hash).call()
        except Exception as exc:
            self.log.step("chain.unavailable", work.task_hash, level=logging.WARNING, error=str(exc))
            return False
        if int(number) == 0:
            return False
        await self._landed(work, int(number), bool(approved), int(block), None)
        return True

    async def _landed(self, work: _Work, number: int, side: bool, block: int, tx_hash: bytes | None) -> None:
        await self._db().mark_landed(work.task_hash, task_number=number, side=side, block=block, tx_hash=tx_hash)
        self.m_outcomes.labels(outcome="landed").inc()
        self.m_submissions.labels(result="landed").inc()
        self.m_latency.observe(max(time.time() - work.created_at, 0.0))
        self.log.step(
            "task.landed", work.task_hash, task_number=number, side=_side_name(side), block=block, tx=_hex(tx_hash)
        )

    async def _finish_stored_submission(self, work: _Work, row: TaskRow) -> bool:
        """A task found ``submitting`` at start: True when its stored transaction settled it."""
        if await self._landed_on_chain(work):
            return True
        if row.tx_hash is None or row.tx_nonce is None:
            return False
        try:
            await self._settle(work, row.tx_hash, row.tx_nonce, row.raw_tx)
            return True
        except _Retry as retry:
            self.log.step("task.resubmit", work.task_hash, reason=retry.reason, message=retry.message)
            return False

    async def _recover_submissions(self) -> None:
        """Before any new transaction: settle or re-send what a previous run signed.

        Each ``submitting`` row's transaction is either on-chain (landed or reverted), superseded
        (its nonce is mined by another), or unknown to the chain. The unknown ones are sent again,
        byte for byte, in nonce order; a nonce nobody holds between them (signed, never stored) is
        filled with an empty transfer so the ones after it can be mined.
        """
        db = self._db()
        rows = [r for r in await db.open_tasks() if r.status is TaskStatus.SUBMITTING]
        if not rows:
            return
        center = self._chain().center
        mined_nonce = int(await self.w3.eth.get_transaction_count(self.address, "latest"))
        resend: list[TaskRow] = []
        for row in sorted(rows, key=lambda r: (r.tx_nonce is None, r.tx_nonce or 0)):
            number, block, approved = await center.functions.taskRecord(row.task_hash).call()
            if int(number) != 0:
                continue  # the worker marks it landed
            if row.tx_hash is None or row.raw_tx is None or row.tx_nonce is None:
                db.set_collecting(row.task_hash)
                continue
            if await _receipt_or_none(self.w3, row.tx_hash) is not None or row.tx_nonce < mined_nonce:
                continue  # mined (reverted) or superseded: the worker sees it and collects again
            resend.append(row)
        next_nonce = mined_nonce
        for row in resend:
            assert row.tx_nonce is not None and row.raw_tx is not None
            if row.tx_nonce < next_nonce:  # two stored transactions share a nonce: keep the first
                db.set_collecting(row.task_hash)
                continue
            while next_nonce < row.tx_nonce:
                await self._burn_nonce(next_nonce)
                next_nonce += 1
            try:
                await self.w3.eth.send_raw_transaction(row.raw_tx)
                self.log.step("task.resent", row.task_hash, tx=_hex(row.tx_hash), nonce=row.tx_nonce)
            except Exception as exc:
                if "already known" not in str(exc).lower():
                    self.log.step("task.resend_failed", row.task_hash, level=logging.WARNING, error=str(exc))
                    db.set_collecting(row.task_hash)
                    continue
            next_nonce = row.tx_nonce + 1
        await db.counts()  # a read behind the writes above: they are committed

    async def _burn_nonce(self, nonce: int) -> None:
        """Use ``nonce`` with an empty transfer to ourselves (unblocks the nonces after it)."""
        account = Account.from_key(self.config.ecdsa_key)
        gas_price = int(await self.w3.eth.gas_price)
        tx = {
            "to": account.address,
            "value": 0,
            "gas": 21_000,
            "nonce": nonce,
            "chainId": self.chain_id,
            "maxFeePerGas": gas_price * 2,
            "maxPriorityFeePerGas": min(gas_price, 10**9),
        }
        signed = account.sign_transaction(tx)
        with contextlib.suppress(Exception):
            await self.w3.eth.send_raw_transaction(signed.raw_transaction)
        self.log.step("nonce.filled", nonce=nonce)

    # --- accessors that say what is missing -----------------------------------------------------

    def _db(self) -> TasksDB:
        if self.db is None:
            raise ApplicationError(CHAIN_UNAVAILABLE, "the aggregator is not started")
        return self.db

    def _chain(self) -> ChainView:
        if self.chain is None:
            raise ApplicationError(CHAIN_UNAVAILABLE, "the aggregator is not started")
        return self.chain

    def _sender(self) -> AsyncTxSender:
        if self.sender is None:
            raise RuntimeError("the aggregator is not started")
        return self.sender

    def _directory(self) -> AttesterDirectory:
        if self.directory is None:
            raise RuntimeError("the aggregator is not started")
        return self.directory

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the aggregator is not started")
        return self._session


def _sync_web3(rpc_url: str):
    """A blocking web3 for the pairing precompile checks of a bisection (run in a thread)."""
    from web3 import HTTPProvider, Web3

    return Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
