"""othentic_offchain.nodes.aggregator end to end: real anvil, a real deployment, ten registered
operators, attesters served over real HTTP on 127.0.0.1, and the aggregator's JSON-RPC.

Attesters are the project's :class:`AttesterNode` (each with a Validation Service stand-in that
answers approve or reject, possibly slowly) where one exists; an attester that must sign garbage,
or all of them when ``AttesterNode`` is missing, is a minimal in-test attester that follows
:mod:`othentic_offchain.nodes.common.protocol` and validates nothing. A "down" attester is a URL where
nothing listens.

Operator 1's account is the aggregator, operator 2's the performer; every operator has the same
stake, so approve needs 7 of the 10 votes and reject 4.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from eth_account import Account
from eth_utils import keccak

from othentic_offchain.avs.runner import ServiceRunner
from othentic_offchain.chain.abi import event_topic
from othentic_offchain.chain.client import AvsContracts, fund_eth
from othentic_offchain.chain.deploy import TOKEN, DeploymentRecord, Web3Backend, deploy_system
from othentic_offchain.chain.types import PenaltyConfig, TaskDefinitionParams, TaskInfo, build_submission
from othentic_offchain.crypto import KeyPair
from othentic_offchain.crypto.ecdsa import SECP256K1_N
from othentic_offchain.devnet.anvil import DEV_PRIVATE_KEYS, Anvil
from othentic_offchain.devnet.tokens import mintable
from othentic_offchain.jsonrpc import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    JsonRpcClient,
    JsonRpcError,
)
from othentic_offchain.nodes.aggregator import (
    DEFINITION_EXPIRED,
    INVALID_SIGNATURE,
    PERFORMER_NOT_ACTIVE,
    UNKNOWN_DEFINITION,
    UNKNOWN_TASK,
    UNSUPPORTED_SIGNATURE_TYPE,
    WRONG_CHAIN,
    AggregatorConfig,
    AggregatorNode,
)
from othentic_offchain.nodes.aggregator.params import MAX_TASK_DATA_BYTES
from othentic_offchain.nodes.aggregator.store import TasksDB, TaskStatus
from othentic_offchain.nodes.common.protocol import ATTEST_PATH, MESSAGE_PATH, AttestRequest, Vote, task_info

try:  # the project's attester, when it is there
    from othentic_offchain.nodes.attester.node import AttesterConfig, AttesterNode
except ImportError:  # pragma: no cover - depends on the working tree
    AttesterConfig = AttesterNode = None  # type: ignore[assignment,misc]

STAKE = 10 * TOKEN
OPERATORS = 10
AGGREGATOR = 0  # index into Net.keys
PERFORMER = 1
TASK_SUBMITTED = event_topic("IAttestationCenter", "TaskSubmitted")
TASK_REJECTED = event_topic("IAttestationCenter", "TaskRejected")


# --- the network (one per module) -----------------------------------------------------------------


@dataclass
class Net:
    anvil: Anvil
    w3: Any
    record: DeploymentRecord
    avs: AvsContracts
    keys: list[str]
    bls: list[KeyPair]
    ids: list[int]
    counter: list[int] = field(default_factory=lambda: [0])

    @property
    def rpc_url(self) -> str:
        return self.anvil.rpc_url

    @property
    def aggregator(self) -> str:
        return Account.from_key(self.keys[AGGREGATOR]).address

    def new_task(self, tag: str, definition: int = 0, performer: int = PERFORMER) -> tuple[TaskInfo, bytes]:
        """A fresh task (unique proof of task) and the performer's signature."""
        self.counter[0] += 1
        key = self.keys[performer]
        task = TaskInfo(
            f"bafkrei-{tag}-{self.counter[0]:05d}", keccak(text=tag)[:8], Account.from_key(key).address, definition
        )
        return task, self.sign(task, key)

    def sign(self, task: TaskInfo, key: str) -> bytes:
        """The performer's signature bound to this deployment's center and chain (ours)."""
        return task.sign(key, self.avs.address, self.avs.chain_id)

    def landings(self, task_hash: bytes) -> list[tuple[bool, int]]:
        """Every TaskSubmitted/TaskRejected event of ``task_hash``: (approved, task number)."""
        logs = self.w3.eth.get_logs(
            {
                "address": self.avs.address,
                "fromBlock": 0,
                "toBlock": "latest",
                "topics": [None, None, None, "0x" + task_hash.hex()],
            }
        )
        out = []
        for log in logs:
            topic = bytes(log["topics"][0])
            if topic in (TASK_SUBMITTED, TASK_REJECTED):
                out.append((topic == TASK_SUBMITTED, int.from_bytes(bytes(log["topics"][1]), "big")))
        return out

    def event(self, task_hash: bytes) -> dict:
        name = "TaskSubmitted" if self.landings(task_hash)[0][0] else "TaskRejected"
        logs = getattr(self.avs.center.events, name)().get_logs(from_block=0, argument_filters={"taskHash": task_hash})
        assert len(logs) == 1
        return dict(logs[0]["args"])

    def nonce(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.aggregator, "latest"))


@pytest.fixture(scope="module")
def net():
    with Anvil() as anvil:
        w3 = anvil.web3()
        record = deploy_system(Web3Backend(w3, DEV_PRIVATE_KEYS[0]))
        record.rpc_url = anvil.rpc_url
        avs = AvsContracts(w3, record)
        admin = avs.sender(DEV_PRIVATE_KEYS[0])
        keys = ["0x" + keccak(text=f"aggregator test operator {i}").hex() for i in range(OPERATORS)]
        bls = [KeyPair.from_seed(b"aggregator test bls key %02d" % i) for i in range(OPERATORS)]
        fund_eth(w3, [Account.from_key(k).address for k in keys], 1000 * TOKEN)
        ids = []
        for key, pair in zip(keys, bls):
            sender = avs.sender(key)
            admin.send(mintable(avs.stake_token).functions.mint(sender.address, STAKE))
            avs.register_operator(sender, pair, STAKE)
            ids.append(avs.operator_id(sender.address))
        assert ids == list(range(1, OPERATORS + 1))
        yield Net(anvil, w3, record, avs, keys, bls, ids)


# --- attesters ------------------------------------------------------------------------------------


class Services:
    """One Validation Service stand-in for all attesters: ``/op/<id>/task/validate`` answers what
    ``approve[id]`` says after ``delay[id]`` seconds; ``/op/<id>/p2p/message`` records the body."""

    def __init__(self):
        self.approve: dict[int, bool] = {}
        self.delay: dict[int, float] = {}
        self.messages: dict[int, list] = {}
        self.validations: dict[int, int] = {}
        app = web.Application()
        app.router.add_post("/op/{id}/task/validate", self.validate)
        app.router.add_post("/op/{id}/p2p/message", self.message)
        self.runner = ServiceRunner(app)
        self.url = ""

    async def validate(self, request: web.Request) -> web.Response:
        operator_id = int(request.match_info["id"])
        self.validations[operator_id] = self.validations.get(operator_id, 0) + 1
        await asyncio.sleep(self.delay.get(operator_id, 0))
        return web.json_response({"data": self.approve.get(operator_id, True), "error": False, "message": None})

    async def message(self, request: web.Request) -> web.Response:
        self.messages.setdefault(int(request.match_info["id"]), []).append(await request.json())
        return web.json_response({"data": True, "error": False, "message": None})


class MiniAttester:
    """The protocol and nothing else: signs approve (or reject, or garbage), remembers its votes."""

    def __init__(self, operator_id: int, keys: KeyPair, mode: str = "approve", services: Services | None = None):
        self.operator_id = operator_id
        self.keys = keys
        self.mode = mode
        self.services = services
        self.votes: dict[bytes, Vote] = {}
        app = web.Application()
        app.router.add_post(ATTEST_PATH, self.attest)
        app.router.add_post(MESSAGE_PATH, self.message)
        self.runner = ServiceRunner(app)

    async def attest(self, request: web.Request) -> web.Response:
        attest = AttestRequest.model_validate(await request.json())
        known = self.votes.get(attest.task_hash)
        if known is None:
            if self.services is not None:
                await asyncio.sleep(self.services.delay.get(self.operator_id, 0))
            approve = self.mode != "reject" and (
                self.services is None or self.services.approve.get(self.operator_id, True)
            )
            digest = task_info(attest.task).vote_hash(attest.attestation_center, attest.chain_id, approve)
            if self.mode == "garbage":
                digest = keccak(b"not the vote" + digest)
            signature = self.keys.sign(digest)
            known = Vote(
                operator_id=self.operator_id,
                task_hash=attest.task_hash,
                is_approved=approve,
                signature=signature.words(),
            )
            self.votes[attest.task_hash] = known
        return web.json_response(known.to_wire())

    async def message(self, request: web.Request) -> web.Response:
        if self.services is not None:
            self.services.messages.setdefault(self.operator_id, []).append(await request.json())
        return web.json_response({"data": True, "error": False, "message": None})

    async def start(self) -> str:
        return await self.runner.start()

    async def stop(self) -> None:
        await self.runner.stop()


def closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@dataclass
class Cluster:
    services: Services
    urls: dict[int, str]
    nodes: list

    async def stop(self) -> None:
        for node in self.nodes:
            await node.stop()
        await self.services.runner.stop()


async def start_attesters(
    net: Net, tmp_path: Path, modes: dict[int, str] | None = None, delay: dict[int, float] | None = None
) -> Cluster:
    """Attesters for operators 1..10: mode "approve" (default), "reject", "garbage" or "down"."""
    modes = modes or {}
    services = Services()
    services.delay.update(delay or {})
    services.url = await services.runner.start()
    urls: dict[int, str] = {}
    nodes: list = []
    for index, operator_id in enumerate(net.ids):
        mode = modes.get(operator_id, "approve")
        services.approve[operator_id] = mode != "reject"
        if mode == "down":
            urls[operator_id] = closed_url()
            continue
        if mode == "garbage" or AttesterNode is None:
            node = MiniAttester(operator_id, net.bls[index], mode, services)
            urls[operator_id] = await node.start()
        else:
            node = AttesterNode(
                AttesterConfig(
                    rpc_url=net.rpc_url,
                    deployment=net.record,
                    ecdsa_key=net.keys[index],
                    bls=net.bls[index],
                    validation_url=f"{services.url}/op/{operator_id}",
                    db_path=tmp_path / f"votes-{operator_id}.sqlite3",
                    name=f"attester-{operator_id}",
                )
            )
            urls[operator_id] = await node.start()
        nodes.append(node)
    return Cluster(services, urls, nodes)


# --- the aggregator -------------------------------------------------------------------------------


def aggregator(net: Net, tmp_path: Path, attesters: dict | None, **overrides: Any) -> AggregatorNode:
    settings: dict[str, Any] = dict(
        rpc_url=net.rpc_url,
        deployment=net.record,
        ecdsa_key=net.keys[AGGREGATOR],
        db_path=tmp_path / "aggregator.sqlite3",
        attesters=attesters or {},
        vote_timeout=5.0,
        task_timeout=20.0,
        retry_interval=0.2,
        receipt_poll_interval=0.02,
        chain_refresh_interval=0.2,
    )
    settings.update(overrides)
    return AggregatorNode(AggregatorConfig(**settings))


def params(task: TaskInfo, signature: bytes, *extra: Any) -> list:
    return [
        task.proof_of_task,
        "0x" + task.data.hex(),
        task.task_definition_id,
        task.performer,
        "0x" + signature.hex(),
        *extra,
    ]


async def send(node: AggregatorNode, task: TaskInfo, signature: bytes) -> str:
    async with JsonRpcClient(node.url) as client:
        return await client.call("sendTask", params(task, signature))


async def wait_finished(node: AggregatorNode, hashes: list[str], timeout: float = 60.0) -> dict[str, dict]:
    """taskStatus of every task once none is open (fails the test after ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with JsonRpcClient(node.url) as client:
        while True:
            statuses = {h: await client.call("taskStatus", [h]) for h in hashes}
            if all(s["status"] in ("landed", "failed") for s in statuses.values()):
                return statuses
            if loop.time() > deadline:
                raise AssertionError(f"tasks still open after {timeout} s: {[s['status'] for s in statuses.values()]}")
            await asyncio.sleep(0.05)


def run(coro):
    return asyncio.run(coro)


# --- landing ----------------------------------------------------------------------------------------


def test_approved_task_lands_with_task_submitted_event_and_task_record(net: Net, tmp_path: Path):
    task, signature = net.new_task("approve")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            statuses = await wait_finished(node, [task_hash])
        finally:
            await node.stop()
            await cluster.stop()
        return task_hash, statuses[task_hash]

    task_hash, status = run(scenario())
    assert task_hash == "0x" + task.task_hash().hex()
    assert status["status"] == "landed" and status["side"] == "approve" and status["error"] is None
    assert net.landings(task.task_hash()) == [(True, status["taskNumber"])]
    event = net.event(task.task_hash())
    assert event["aggregator"] == net.aggregator and event["performer"] == task.performer
    assert event["proofOfTask"] == task.proof_of_task
    # delay 0: the node submits as soon as 7 approvals are in; whoever was later is a non-signer
    assert list(event["nonSignerIds"]) == status["nonSigners"] and len(status["nonSigners"]) <= 3
    number, _block, approved = net.avs.task_record(task.task_hash())
    assert (number, approved) == (status["taskNumber"], True)
    receipt = net.w3.eth.get_transaction_receipt(status["txHash"])
    assert receipt["status"] == 1 and receipt["from"] == net.aggregator


def test_an_othentic_bare_taskhash_signature_lands_next_to_a_bound_one_and_is_recorded_as_not_bound(
    net: Net, tmp_path: Path
):
    """Othentic performers sign the bare taskHash: the aggregator, the attesters and the center all
    take it; the on-chain record says which form the performer used."""
    bound_task, bound = net.new_task("bound-form")
    bare_task, _ = net.new_task("bare-form")
    bare = bare_task.sign_bare(net.keys[PERFORMER])

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls)
        await node.start()
        try:
            hashes = [await send(node, bound_task, bound), await send(node, bare_task, bare)]
            return await wait_finished(node, hashes)
        finally:
            await node.stop()
            await cluster.stop()

    statuses = run(scenario())
    assert [s["status"] for s in statuses.values()] == ["landed", "landed"], statuses
    terms = net.avs.center.functions.taskPenaltyTerms
    assert terms(bound_task.abi()).call()[5] is True  # performerBound
    assert terms(bare_task.abi()).call()[5] is False


def test_rejected_task_lands_with_task_rejected_event(net: Net, tmp_path: Path):
    task, signature = net.new_task("reject")
    rejecters = {1: "reject", 2: "reject", 3: "reject", 4: "reject"}

    async def scenario():
        cluster = await start_attesters(net, tmp_path, rejecters)
        node = aggregator(net, tmp_path, cluster.urls)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            return (await wait_finished(node, [task_hash]))[task_hash]
        finally:
            await node.stop()
            await cluster.stop()

    status = run(scenario())
    assert status["status"] == "landed" and status["side"] == "reject"
    assert net.landings(task.task_hash()) == [(False, status["taskNumber"])]
    event = net.event(task.task_hash())
    assert list(event["nonSignerIds"]) == [5, 6, 7, 8, 9, 10]
    assert event["signedPower"] == 4 * STAKE and event["totalPower"] == 10 * STAKE
    assert net.avs.task_record(task.task_hash())[2] is False


def test_three_of_ten_attesters_down_still_lands_with_them_as_non_signers(net: Net, tmp_path: Path):
    task, signature = net.new_task("three-down")
    down = {4: "down", 7: "down", 9: "down"}

    async def scenario():
        cluster = await start_attesters(net, tmp_path, down)
        node = aggregator(net, tmp_path, cluster.urls)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            return (await wait_finished(node, [task_hash]))[task_hash]
        finally:
            await node.stop()
            await cluster.stop()

    status = run(scenario())
    assert status["status"] == "landed" and status["side"] == "approve"
    assert status["nonSigners"] == [4, 7, 9]
    event = net.event(task.task_hash())
    assert list(event["nonSignerIds"]) == [4, 7, 9]
    assert event["signedPower"] == 7 * STAKE


def test_waiting_delay_after_threshold_collects_the_slow_votes_too(net: Net, tmp_path: Path):
    task, signature = net.new_task("delay")

    async def scenario():
        cluster = await start_attesters(net, tmp_path, delay={10: 0.4})
        node = aggregator(net, tmp_path, cluster.urls, delay=2.0)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            return (await wait_finished(node, [task_hash]))[task_hash]
        finally:
            await node.stop()
            await cluster.stop()

    status = run(scenario())
    assert status["status"] == "landed" and status["nonSigners"] == []
    assert len(status["votes"]) == 10


def test_bad_signature_is_found_by_bisection_and_excluded_and_the_task_lands(net: Net, tmp_path: Path):
    task, signature = net.new_task("garbage")

    async def scenario():
        cluster = await start_attesters(net, tmp_path, {6: "garbage"})
        # A delay makes the node wait for all ten votes, so the garbage one is in the first aggregate.
        node = aggregator(net, tmp_path, cluster.urls, delay=3.0)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            status = (await wait_finished(node, [task_hash]))[task_hash]
            async with aiohttp.ClientSession() as session:
                async with session.get(node.url + "/metrics") as response:
                    metrics = await response.text()
            return status, metrics
        finally:
            await node.stop()
            await cluster.stop()

    status, metrics = run(scenario())
    assert status["status"] == "landed" and status["side"] == "approve"
    assert status["nonSigners"] == [6]
    assert {v["operatorId"]: v["valid"] for v in status["votes"]}[6] is False
    assert list(net.event(task.task_hash())["nonSignerIds"]) == [6]
    assert "othentic_aggregator_bisections_total 1.0" in metrics
    assert 'othentic_failures_total{reason="bad_signature"} 1.0' in metrics


class StreamingAttester:
    """A hostile attester: answers every vote request with an endless stream of bytes (up to
    ``limit``), counting what it managed to send before the reader hung up."""

    def __init__(self, limit: int = 256 << 20):
        self.limit = limit
        self.sent = 0
        self.requests = 0
        self.finished = asyncio.Event()
        app = web.Application()
        app.router.add_post(ATTEST_PATH, self.attest)
        self.runner = ServiceRunner(app)

    async def attest(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b" " * (64 << 10)
        try:
            while self.sent < self.limit:
                await response.write(chunk)
                self.sent += len(chunk)
        except ConnectionError:
            pass  # the aggregator hung up: what we want
        finally:
            self.finished.set()
        return response


def test_an_attester_streaming_a_huge_answer_is_cut_off_and_its_vote_refused(net: Net, tmp_path: Path):
    task, signature = net.new_task("huge-answer")

    async def scenario():
        cluster = await start_attesters(net, tmp_path, {5: "down"})
        hostile = StreamingAttester()
        cluster.urls[5] = await hostile.runner.start()
        node = aggregator(net, tmp_path, cluster.urls, delay=1.0)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            status = (await wait_finished(node, [task_hash]))[task_hash]
            await asyncio.wait_for(hostile.finished.wait(), 30)
            async with aiohttp.ClientSession() as session:
                async with session.get(node.url + "/metrics") as response:
                    metrics = await response.text()
            return status, hostile, metrics
        finally:
            await node.stop()
            await hostile.runner.stop()
            await cluster.stop()

    status, hostile, metrics = run(scenario())
    assert status["status"] == "landed" and 5 in status["nonSigners"]
    assert 5 not in {v["operatorId"] for v in status["votes"]}
    # The read stopped at the cap: what was sent is the cap plus socket buffers, not the stream.
    assert hostile.sent < 16 << 20, f"the aggregator read {hostile.sent} bytes of a hostile answer"
    assert hostile.requests == 1  # refused, not asked again
    assert 'othentic_aggregator_attest_requests_total{result="malformed"} 1.0' in metrics


def test_task_without_quorum_fails_with_no_quorum_and_the_powers_it_got(net: Net, tmp_path: Path):
    task, signature = net.new_task("no-quorum")
    down = {i: "down" for i in (6, 7, 8, 9, 10)}

    async def scenario():
        cluster = await start_attesters(net, tmp_path, down)
        node = aggregator(net, tmp_path, cluster.urls, task_timeout=1.5)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            return (await wait_finished(node, [task_hash]))[task_hash]
        finally:
            await node.stop()
            await cluster.stop()

    status = run(scenario())
    assert status["status"] == "failed"
    assert status["error"].startswith("no_quorum")
    assert status["approvePower"] == str(5 * STAKE) and status["rejectPower"] == "0"
    assert status["totalPower"] == str(10 * STAKE)
    assert status["txHash"] is None
    assert net.landings(task.task_hash()) == []


def test_attesters_published_on_chain_endpoints_are_used_without_a_static_map(net: Net, tmp_path: Path):
    task, signature = net.new_task("on-chain-endpoints")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        for index, operator_id in enumerate(net.ids):
            sender = net.avs.sender(net.keys[index])
            publish = net.avs.center.functions.setOperatorEndpoint(cluster.urls[operator_id])
            await asyncio.to_thread(sender.send, publish)
        node = aggregator(net, tmp_path, None)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            return (await wait_finished(node, [task_hash]))[task_hash]
        finally:
            await node.stop()
            await cluster.stop()

    status = run(scenario())
    assert status["status"] == "landed" and len(status["votes"]) >= 7


def test_task_already_landed_by_someone_else_is_marked_landed_without_a_transaction(net: Net, tmp_path: Path):
    task, signature = net.new_task("landed-elsewhere")
    submission = build_submission(
        task,
        is_approved=True,
        tp_signature=signature,
        attestation_center=net.avs.address,
        chain_id=net.record.chain_id,
        members=net.ids,
        signers=dict(zip(net.ids, net.bls)),
    )
    receipt = net.avs.submit_task(net.avs.sender(net.keys[AGGREGATOR]), task, submission)
    (landed,) = net.avs.on_receipt(receipt, "TaskSubmitted")
    nonce_before = net.nonce()

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            return (await wait_finished(node, [task_hash]))[task_hash]
        finally:
            await node.stop()
            await cluster.stop()

    status = run(scenario())
    assert status["status"] == "landed" and status["taskNumber"] == landed["taskNumber"]
    assert status["attempts"] == 0 and status["txHash"] is None
    assert net.nonce() == nonce_before
    assert len(net.landings(task.task_hash())) == 1


# --- sendTask: duplicates and refusals ------------------------------------------------------------


def test_duplicate_send_task_answers_the_same_hash_and_lands_once(net: Net, tmp_path: Path):
    task, signature = net.new_task("duplicate")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls)
        await node.start()
        try:
            answers = await asyncio.gather(*(send(node, task, signature) for _ in range(5)))
            await wait_finished(node, [answers[0]])
            again = await send(node, task, signature)  # after it landed, too
            counts = await node.db.counts()
            return answers, again, counts
        finally:
            await node.stop()
            await cluster.stop()

    answers, again, counts = run(scenario())
    assert set(answers) == {again} == {"0x" + task.task_hash().hex()}
    assert counts["landed"] == 1 and sum(counts.values()) == 1
    assert len(net.landings(task.task_hash())) == 1


def refused(net: Net, tmp_path: Path, body: Any) -> dict:
    """POST ``body`` (a params list, a whole request dict, or raw bytes) to a fresh aggregator;
    returns the error object, after checking that nothing was stored."""

    async def scenario():
        node = aggregator(net, tmp_path, {})
        await node.start()
        try:
            if isinstance(body, bytes):
                raw = body
            elif isinstance(body, dict):
                raw = json.dumps(body).encode()
            else:
                raw = json.dumps({"jsonrpc": "2.0", "method": "sendTask", "params": body, "id": 1}).encode()
            async with aiohttp.ClientSession() as session:
                async with session.post(node.url + "/", data=raw) as response:
                    answer = await response.json()
            counts = await node.db.counts()
            return answer, counts
        finally:
            await node.stop()

    answer, counts = run(scenario())
    assert sum(counts.values()) == 0, "a refused task must not be stored"
    assert "result" not in answer
    return answer["error"]


def test_send_task_with_a_signature_of_another_key_is_refused(net: Net, tmp_path: Path):
    task, _ = net.new_task("wrong-signer")
    forged = net.sign(task, net.keys[5])
    error = refused(net, tmp_path, params(task, forged))
    assert error["code"] == INVALID_SIGNATURE
    assert "recovers to" in error["message"] and error["data"]["recovered"] == Account.from_key(net.keys[5]).address


@pytest.mark.parametrize("elsewhere", ["another center", "another chain"])
def test_send_task_with_a_signature_bound_to_another_center_or_chain_is_refused(
    net: Net, tmp_path: Path, elsewhere: str
):
    task, _ = net.new_task("bound-elsewhere")
    center, chain_id = ("0x" + "42" * 20, net.avs.chain_id) if elsewhere == "another center" else (net.avs.address, 1)
    signature = task.sign(net.keys[PERFORMER], center, chain_id)
    error = refused(net, tmp_path, params(task, signature))
    assert error["code"] == INVALID_SIGNATURE and "domain-bound" in error["message"]
    assert error["data"]["performer"] == task.performer
    assert task.performer not in (error["data"]["recovered"], error["data"]["recoveredBare"])


def test_send_task_with_an_unrecoverable_signature_is_refused(net: Net, tmp_path: Path):
    task, signature = net.new_task("bad-v")
    error = refused(net, tmp_path, params(task, signature[:64] + b"\x05"))
    assert error["code"] == INVALID_SIGNATURE and "recovery id" in error["message"]


def test_send_task_with_a_high_s_signature_is_refused_as_invalid_params(net: Net, tmp_path: Path):
    task, signature = net.new_task("high-s")
    low_s = int.from_bytes(signature[32:64], "big")
    twin = signature[:32] + (SECP256K1_N - low_s).to_bytes(32, "big") + bytes([55 - signature[64]])
    error = refused(net, tmp_path, params(task, twin))
    assert error["code"] == INVALID_PARAMS
    assert "'signature'" in error["message"] and "high s" in error["message"]


def test_send_task_with_data_too_large_for_a_transaction_is_refused(net: Net, tmp_path: Path):
    key = net.keys[PERFORMER]
    task = TaskInfo("bafkrei-large-data", b"\x01" * (MAX_TASK_DATA_BYTES + 1), Account.from_key(key).address, 0)
    error = refused(net, tmp_path, params(task, net.sign(task, key)))
    assert error["code"] == INVALID_PARAMS
    assert "'data'" in error["message"] and f"the limit is {MAX_TASK_DATA_BYTES}" in error["message"]


def test_send_task_for_an_unknown_definition_is_refused(net: Net, tmp_path: Path):
    task, signature = net.new_task("unknown-definition", definition=999)
    error = refused(net, tmp_path, params(task, signature))
    assert error["code"] == UNKNOWN_DEFINITION and "999" in error["message"]


def test_send_task_for_an_expired_definition_is_refused(net: Net, tmp_path: Path):
    admin = net.avs.sender(DEV_PRIVATE_KEYS[0])
    expiry = net.w3.eth.block_number + 2
    definition = net.avs.create_definition(admin, TaskDefinitionParams(name="short-lived", block_expiry=expiry))
    net.w3.provider.make_request("anvil_mine", [hex(3)])
    task, signature = net.new_task("expired", definition=definition)
    error = refused(net, tmp_path, params(task, signature))
    assert error["code"] == DEFINITION_EXPIRED and error["data"]["blockExpiry"] == expiry


def test_send_task_with_a_bare_signature_for_a_definition_that_punishes_rejections_is_refused(net: Net, tmp_path: Path):
    """The center would refuse it (PerformerSignatureNotDomainBound): said before any vote is asked."""
    admin = net.avs.sender(DEV_PRIVATE_KEYS[0])
    strict = PenaltyConfig(double_attestation=True, incorrect_attestation=False, rejected_task=True)
    definition = net.avs.create_definition(admin, TaskDefinitionParams(name="strict", penalties=strict))
    task, _ = net.new_task("bare-on-strict", definition=definition)
    error = refused(net, tmp_path, params(task, task.sign_bare(net.keys[PERFORMER])))
    assert error["code"] == INVALID_SIGNATURE and "punishes rejected tasks" in error["message"]
    assert (
        error["data"]["performerHash"]
        == "0x" + task.performer_hash(net.record.attestation_center, net.record.chain_id).hex()
    )


def test_send_task_from_a_performer_who_is_not_an_operator_is_refused(net: Net, tmp_path: Path):
    stranger = "0x" + keccak(text="not an operator").hex()
    task = TaskInfo("bafkrei-stranger", b"\x01", Account.from_key(stranger).address, 0)
    error = refused(net, tmp_path, params(task, net.sign(task, stranger)))
    assert error["code"] == PERFORMER_NOT_ACTIVE


@pytest.mark.parametrize(
    "position, value, name, fragment",
    [
        (0, 12, "proofOfTask", "expected a string"),
        (1, "hello", "data", "0x-prefixed hex"),
        (1, "0x123", "data", "odd number of digits"),
        (2, "abc", "taskDefinitionId", "expected an integer"),
        (2, 70000, "taskDefinitionId", "uint16"),
        (2, True, "taskDefinitionId", "boolean"),
        (3, "0x1234", "performerAddress", "40 hex digits"),
        (4, "0x" + "11" * 64, "signature", "65 bytes"),
        (4, None, "signature", "got null"),
    ],
)
def test_send_task_with_a_malformed_param_is_refused_naming_it(
    net: Net, tmp_path: Path, position, value, name, fragment
):
    task, signature = net.new_task("malformed")
    body = params(task, signature)
    body[position] = value
    error = refused(net, tmp_path, body)
    assert error["code"] == INVALID_PARAMS
    assert name in error["message"] and fragment in error["message"]


def test_send_task_with_an_oversized_proof_of_task_is_refused(net: Net, tmp_path: Path):
    task = TaskInfo("Q" * 1025, b"", Account.from_key(net.keys[PERFORMER]).address, 0)
    error = refused(net, tmp_path, params(task, net.sign(task, net.keys[PERFORMER])))
    assert error["code"] == INVALID_PARAMS
    assert "proofOfTask" in error["message"] and "1025 characters, the limit is 1024" in error["message"]


def test_send_task_with_signature_type_bls_is_refused_as_unsupported(net: Net, tmp_path: Path):
    task, signature = net.new_task("bls")
    error = refused(net, tmp_path, params(task, signature, "bls"))
    assert error["code"] == UNSUPPORTED_SIGNATURE_TYPE and "ecdsa" in error["message"]
    assert refused(net, tmp_path, params(task, signature, "rsa"))["code"] == INVALID_PARAMS


def test_send_task_for_another_chain_is_refused(net: Net, tmp_path: Path):
    task, signature = net.new_task("other-chain")
    error = refused(net, tmp_path, params(task, signature, "ecdsa", 1))
    assert error["code"] == WRONG_CHAIN and error["data"] == {"targetChainId": 1, "chainId": net.record.chain_id}


def test_malformed_json_is_a_parse_error(net: Net, tmp_path: Path):
    assert refused(net, tmp_path, b'{"jsonrpc":"2.0","method":"sendTask","params":[')["code"] == PARSE_ERROR


def test_unknown_method_is_method_not_found(net: Net, tmp_path: Path):
    error = refused(net, tmp_path, {"jsonrpc": "2.0", "method": "sendTasks", "params": [], "id": 3})
    assert error["code"] == METHOD_NOT_FOUND


def test_send_task_accepts_named_params_and_the_optional_ones(net: Net, tmp_path: Path):
    task, signature = net.new_task("named")

    async def scenario():
        node = aggregator(net, tmp_path, {}, task_timeout=0.5)
        await node.start()
        try:
            async with JsonRpcClient(node.url) as client:
                named = await client.call(
                    "sendTask",
                    {
                        "proofOfTask": task.proof_of_task,
                        "data": "0x" + task.data.hex(),
                        "taskDefinitionID": task.task_definition_id,
                        "performer": task.performer.lower(),
                        "signature": "0x" + signature.hex(),
                        "signatureType": "ECDSA",
                        "targetChainId": net.record.chain_id,
                    },
                )
                with pytest.raises(JsonRpcError) as unknown:
                    await client.call("taskStatus", ["0x" + "00" * 32])
            return named, unknown.value
        finally:
            await node.stop()

    named, unknown = run(scenario())
    assert named == "0x" + task.task_hash().hex()
    assert unknown.code == UNKNOWN_TASK


# --- many tasks, restarts ---------------------------------------------------------------------------


def test_fifty_tasks_in_flight_at_once_all_land_exactly_once(net: Net, tmp_path: Path):
    tasks = [net.new_task(f"fifty-{i}") for i in range(50)]
    nonce_before = net.nonce()

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls)
        await node.start()
        try:
            hashes = await asyncio.gather(*(send(node, t, s) for t, s in tasks))
            statuses = await wait_finished(node, hashes, timeout=120)
        finally:
            await node.stop()
            await cluster.stop()
        return statuses

    statuses = run(scenario())
    assert {s["status"] for s in statuses.values()} == {"landed"}
    numbers = set()
    for task, _signature in tasks:
        landings = net.landings(task.task_hash())
        assert len(landings) == 1
        numbers.add(landings[0][1])
    assert len(numbers) == 50
    assert net.nonce() - nonce_before == 50  # one transaction per task, none wasted


def _stored(db_path: Path) -> list:
    async def read():
        db = await TasksDB.open(db_path)
        rows = await db.open_tasks()
        await db.close()
        return rows

    return run(read())


def test_restart_resumes_tasks_that_were_collecting_and_lands_each_once(net: Net, tmp_path: Path):
    tasks = [net.new_task(f"restart-collecting-{i}") for i in range(8)]
    nonce_before = net.nonce()

    async def first_run(cluster):
        node = aggregator(net, tmp_path, cluster.urls)
        await node.start()
        hashes = await asyncio.gather(*(send(node, t, s) for t, s in tasks))
        await asyncio.sleep(0.3)  # the attesters' services take 1.5 s: nothing can land yet
        await node.stop()
        return hashes

    async def scenario():
        cluster = await start_attesters(net, tmp_path, delay={i: 1.5 for i in net.ids})
        try:
            hashes = await first_run(cluster)
            left_open = await asyncio.to_thread(_stored, tmp_path / "aggregator.sqlite3")
            node = aggregator(net, tmp_path, cluster.urls)
            await node.start()
            try:
                statuses = await wait_finished(node, hashes)
            finally:
                await node.stop()
        finally:
            await cluster.stop()
        return left_open, statuses

    left_open, statuses = run(scenario())
    assert len(left_open) == 8 and {r.status for r in left_open} <= {TaskStatus.ACCEPTED, TaskStatus.COLLECTING}
    assert {s["status"] for s in statuses.values()} == {"landed"}
    for task, _signature in tasks:
        assert len(net.landings(task.task_hash())) == 1
    assert net.nonce() - nonce_before == 8


def _crash_while_submitting(net: Net, tmp_path: Path, tasks, crash) -> tuple[dict, dict]:
    """Send ``tasks``; ``crash(node)`` makes the first aggregator hang at one point of submitting
    (the process "dies" there); once every task is 'submitting', stop it and start a new aggregator
    on the same store. Returns the stored transaction hashes and the final statuses."""

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        try:
            node = aggregator(net, tmp_path, cluster.urls)
            await node.start()
            crash(node)
            hashes = await asyncio.gather(*(send(node, t, s) for t, s in tasks))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while (await node.db.counts())["submitting"] < len(tasks):
                assert loop.time() < deadline, "tasks never reached 'submitting'"
                await asyncio.sleep(0.05)
            stored = {r.task_hash: r.tx_hash for r in await node.db.open_tasks()}
            await node.stop()
            node = aggregator(net, tmp_path, cluster.urls)
            await node.start()
            try:
                statuses = await wait_finished(node, hashes)
            finally:
                await node.stop()
        finally:
            await cluster.stop()
        return stored, statuses

    return run(scenario())


async def _hang(*_args) -> None:
    await asyncio.Event().wait()


def test_restart_sends_the_stored_transaction_that_a_crash_kept_from_being_broadcast(net: Net, tmp_path: Path):
    tasks = [net.new_task(f"restart-unsent-{i}") for i in range(4)]
    nonce_before = net.nonce()

    def between_storing_and_broadcasting(node):
        node.sender.broadcast = _hang

    stored, statuses = _crash_while_submitting(net, tmp_path, tasks, between_storing_and_broadcasting)
    assert {s["status"] for s in statuses.values()} == {"landed"}
    for task, _signature in tasks:
        assert len(net.landings(task.task_hash())) == 1
        status = statuses["0x" + task.task_hash().hex()]
        assert status["txHash"] == "0x" + stored[task.task_hash()].hex()  # the very same transaction
    assert net.nonce() - nonce_before == 4


def test_restart_after_broadcast_finds_the_landed_task_without_sending_again(net: Net, tmp_path: Path):
    tasks = [net.new_task(f"restart-sent-{i}") for i in range(4)]
    nonce_before = net.nonce()

    def while_waiting_for_the_receipt(node):
        node.submitter.wait_mined = _hang

    _stored_hashes, statuses = _crash_while_submitting(net, tmp_path, tasks, while_waiting_for_the_receipt)
    assert {s["status"] for s in statuses.values()} == {"landed"}
    for task, _signature in tasks:
        assert len(net.landings(task.task_hash())) == 1
    assert net.nonce() - nonce_before == 4


# --- messages, health, metrics ----------------------------------------------------------------------


def test_custom_message_reaches_every_attester(net: Net, tmp_path: Path):
    async def scenario():
        cluster = await start_attesters(net, tmp_path, {3: "down"})
        node = aggregator(net, tmp_path, cluster.urls)
        await node.start()
        try:
            async with JsonRpcClient(node.url) as client:
                delivered = await client.call("sendCustomMessage", ["0xc0ffee"])
        finally:
            await node.stop()
            await cluster.stop()
        return delivered, cluster.services.messages

    delivered, messages = run(scenario())
    assert delivered == 9
    assert sorted(messages) == [i for i in net.ids if i != 3]
    assert all(m == [{"data": "0xc0ffee"}] for m in messages.values())


def test_health_reports_chain_block_center_and_db(net: Net, tmp_path: Path):
    async def scenario():
        node = aggregator(net, tmp_path, {})
        await node.start()
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(node.url + "/health") as response:
                    over_http = await response.json()
            async with JsonRpcClient(node.url + "/rpc") as client:
                over_rpc = await client.call("health")
        finally:
            await node.stop()
        return over_http, over_rpc

    over_http, over_rpc = run(scenario())
    for health in (over_http, over_rpc):
        assert health["status"] == "ok" and health["chainId"] == net.record.chain_id
        assert health["block"] >= 1 and health["attestationCenter"] == net.avs.address
        assert health["tasksInFlight"] == 0 and health["db"].endswith("aggregator.sqlite3")
        assert health["aggregator"] == net.aggregator


def test_metrics_endpoint_shows_task_vote_and_submission_counts(net: Net, tmp_path: Path):
    task, signature = net.new_task("metrics")
    stranger_task, _ = net.new_task("metrics-refused")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            await wait_finished(node, [task_hash])
            with pytest.raises(JsonRpcError):
                await send(node, stranger_task, b"\x00" * 65)
            async with aiohttp.ClientSession() as session:
                async with session.get(node.url + "/metrics") as response:
                    return await response.text()
        finally:
            await node.stop()
            await cluster.stop()

    text = run(scenario())
    for line in (
        'othentic_aggregator_tasks_total{outcome="accepted"} 1.0',
        'othentic_aggregator_tasks_total{outcome="landed"} 1.0',
        'othentic_aggregator_tasks_total{outcome="refused"} 1.0',
        'othentic_aggregator_submissions_total{result="sent"} 1.0',
        "othentic_aggregator_task_latency_seconds_count 1.0",
        "othentic_tasks_in_flight 0.0",
        'othentic_aggregator_rpc_calls_total{code="-32001",method="sendTask"} 1.0',
    ):
        assert line in text, line
    approve_votes = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith('othentic_aggregator_votes_total{side="approve"}')
    )
    assert approve_votes >= 7


# --- stale chain state (keep last: it adds an eleventh operator for a while) -----------------------


def test_operator_joining_behind_a_stale_cache_is_picked_up_after_a_refresh_and_the_task_lands(
    net: Net, tmp_path: Path
):
    newcomer_key = "0x" + keccak(text="aggregator test late operator").hex()
    newcomer_bls = KeyPair.from_seed(b"aggregator test late operator bls")
    task, signature = net.new_task("stale-set")
    admin = net.avs.sender(DEV_PRIVATE_KEYS[0])
    fund_eth(net.w3, [Account.from_key(newcomer_key).address], 1000 * TOKEN)
    newcomer = net.avs.sender(newcomer_key)

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        # The cache is only refreshed when the node decides to: the set it holds goes stale.
        node = aggregator(net, tmp_path, cluster.urls, chain_refresh_interval=3600.0, delay=2.0)
        await node.start()
        try:
            await node.chain.definition(0)  # cached with ten members
            await asyncio.to_thread(admin.send, mintable(net.avs.stake_token).functions.mint(newcomer.address, STAKE))
            await asyncio.to_thread(net.avs.register_operator, newcomer, newcomer_bls, STAKE)
            task_hash = await send(node, task, signature)
            status = (await wait_finished(node, [task_hash]))[task_hash]
            async with aiohttp.ClientSession() as session:
                async with session.get(node.url + "/metrics") as response:
                    metrics = await response.text()
            return status, metrics
        finally:
            await node.stop()
            await cluster.stop()

    try:
        status, metrics = run(scenario())
    finally:
        newcomer.send(net.avs.center.functions.leave())
    assert status["status"] == "landed" and status["side"] == "approve"
    assert status["nonSigners"] == [11]  # the newcomer runs no attester
    assert status["attempts"] == 1  # one transaction: the stale attempt failed in simulation
    assert list(net.event(task.task_hash())["nonSignerIds"]) == [11]
    # The stale aggregate failed, every vote verified on its own, so the node refreshed and retried.
    assert "othentic_aggregator_bisections_total 1.0" in metrics
    assert 'othentic_aggregator_submissions_total{result="simulation_reverted"} 1.0' in metrics
