"""PerformerNode over HTTP: real anvil and deployment, a real Execution Service, every trigger kind,
leader election, and a small JSON-RPC server standing in for the aggregator that records what the
performer sent it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from aiohttp import web
from eth_utils import event_abi_to_log_topic, keccak

from othentic_offchain.avs import Avs, Execution, ServiceRunner, build_execution_app
from othentic_offchain.chain.deploy import TOKEN
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.crypto import G1Point, recover_task_signer, round_hash, verify
from othentic_offchain.crypto.auth import P2P_MESSAGE_TAG, PERFORMER_MESSAGE_TAG
from othentic_offchain.nodes.common.protocol import TIMESTAMP_HEADER, auth_headers
from othentic_offchain.nodes.performer import TRIGGER_PATH, EventTrigger, PerformerConfig, PerformerNode
from othentic_offchain.nodes.performer.election import round_robin, stake_weighted
from othentic_offchain.nodes.performer.outbox import Outbox
from tests.offchain.nodes.node_harness import HTTP_TIMEOUT, Operator, closed_url, metric

REGISTERED = "OperatorRegistered(uint32,address,uint256,(uint256,uint256),(uint256[2],uint256[2]))"


class FakeAggregator:
    """Answers JSON-RPC ``sendTask`` with ``true`` (or the error ``code`` for the first
    ``fail_first`` calls; -32002, an unknown definition, is a refusal for good, -32029, busy, is
    not) and keeps every request body it received."""

    def __init__(self, fail_first: int = 0, code: int = -32002, message: str = "quorum not reachable") -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self.code = code
        self.message = message
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(body)
        if len(self.calls) <= self.fail_first:
            return web.json_response(
                {"jsonrpc": "2.0", "id": body.get("id"), "error": {"code": self.code, "message": self.message}}
            )
        return web.json_response({"jsonrpc": "2.0", "id": body.get("id"), "result": True})

    @property
    def tasks(self) -> list[dict[str, Any]]:
        """The decoded ``sendTask`` params: task, signature and the params the service was given."""
        found = []
        for call in list(self.calls):
            proof, data, definition, performer, signature = call["params"]
            executed = json.loads(bytes.fromhex(data[2:]))
            found.append(
                {
                    "task": TaskInfo(proof, data, performer, definition),
                    "signature": signature,
                    "params": executed["params"],
                    "definition": executed["definition"],
                    "call": call,
                }
            )
        return found


def wait_until(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def execution_url(loop):
    """An Execution Service whose data is the JSON of what it was asked (definition and params)."""
    avs = Avs("worker", timeout=10)
    proofs = itertools.count(1)

    @avs.execute()
    async def work(params: dict, ctx) -> Execution:
        if params.get("fail"):
            raise RuntimeError("no price today")
        body = {"definition": ctx.task_definition_id, "params": params}
        return Execution(proof_of_task=f"proof-{next(proofs)}", data=json.dumps(body, sort_keys=True).encode())

    runner = ServiceRunner(build_execution_app(avs))
    url = loop.run(runner.start())
    yield url
    loop.run(runner.stop())


@pytest.fixture(scope="module")
def alice(devnet) -> Operator:
    return devnet.register(stake=2 * TOKEN)


@pytest.fixture(scope="module")
def bob(devnet) -> Operator:
    return devnet.register(stake=6 * TOKEN)


@pytest.fixture(scope="module")
def aggregator(loop):
    """Start a fresh fake aggregator per call (each test sees only its own performers' tasks)."""
    runners: list[ServiceRunner] = []

    def start(fail_first: int = 0, *, port: int = 0, **kwargs: Any) -> FakeAggregator:
        fake = FakeAggregator(fail_first, **kwargs)
        app = web.Application()
        app.router.add_post("/", fake.handle)
        runner = ServiceRunner(app, port=port)
        fake.url = loop.run(runner.start()) + "/"
        runners.append(runner)
        return fake

    yield start
    for runner in runners:
        loop.run(runner.stop())


@pytest.fixture(scope="module")
def performer_factory(loop, devnet, execution_url, tmp_path_factory):
    """Start a performer; each has its own outbox file unless ``outbox_path`` is given."""
    started: list[PerformerNode] = []

    def start(operator: Operator, aggregator_url: str | list[str], **overrides: Any) -> PerformerNode:
        overrides.setdefault("execution_url", execution_url)
        overrides.setdefault("outbox_path", tmp_path_factory.mktemp("performer") / "outbox.sqlite3")
        config = PerformerConfig(
            rpc_url=devnet.anvil.rpc_url,
            deployment=devnet.record,
            ecdsa_key=operator.key,
            aggregator_url=aggregator_url,
            chain_refresh=0.1,
            **overrides,
        )
        node = PerformerNode(config)
        loop.run(node.start())
        started.append(node)
        return node

    yield start
    for node in started:
        loop.run(node.stop())


def trigger(node: PerformerNode, body: Any = None) -> requests.Response:
    if isinstance(body, (bytes, str)):
        return requests.post(node.url + TRIGGER_PATH, data=body, timeout=HTTP_TIMEOUT)
    return requests.post(node.url + TRIGGER_PATH, json=body if body is not None else {}, timeout=HTTP_TIMEOUT)


# -- on demand ----------------------------------------------------------------------------------------


def test_on_demand_trigger_sends_sendtask_with_othentic_positional_params(devnet, performer_factory, aggregator, alice):
    fake = aggregator()
    node = performer_factory(alice, fake.url)
    answer = trigger(node, {"params": {"pair": "ETHUSDT"}})
    assert answer.status_code == 200, answer.text

    [call] = fake.calls
    assert (call["jsonrpc"], call["method"]) == ("2.0", "sendTask")
    assert isinstance(call["id"], int)
    proof, data, definition, performer, signature = call["params"]
    assert isinstance(proof, str) and proof.startswith("proof-")
    assert data.startswith("0x") and json.loads(bytes.fromhex(data[2:])) == {
        "definition": 0,
        "params": {"pair": "ETHUSDT"},
    }
    assert definition == 0
    assert performer == alice.address
    assert signature.startswith("0x") and len(bytes.fromhex(signature[2:])) == 65

    task = TaskInfo(proof, data, performer, definition)
    # Signed over the digest bound to the deployment's center and chain, not the bare taskHash.
    bound = task.performer_hash(devnet.center, devnet.chain_id)
    assert recover_task_signer(bound, bytes.fromhex(signature[2:])) == alice.address
    assert recover_task_signer(task.task_hash(), bytes.fromhex(signature[2:])) != alice.address
    body = answer.json()
    assert body["taskHash"] == "0x" + task.task_hash().hex()
    assert body["aggregator"] is True
    assert body["performerSignature"] == signature
    assert body["task"]["proofOfTask"] == proof


def test_json_rpc_ids_count_up_per_request(performer_factory, aggregator, alice):
    fake = aggregator()
    node = performer_factory(alice, fake.url)
    for _ in range(3):
        assert trigger(node).status_code == 200
    ids = [call["id"] for call in fake.calls]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_perform_from_python_merges_configured_and_given_params(loop, performer_factory, aggregator, alice):
    fake = aggregator()
    node = performer_factory(alice, fake.url, params={"source": "config", "pair": "BTCUSDT"})
    outcome = loop.run(node.perform({"pair": "ETHUSDT"}))
    assert outcome.sent and outcome.status == "sent"
    assert outcome.trigger == "demand"
    assert outcome.aggregator_result is True
    [sent] = fake.tasks
    assert sent["params"] == {"source": "config", "pair": "ETHUSDT"}
    assert sent["task"].task_hash() == outcome.task_hash
    assert node.last_outcome is outcome


def test_the_configured_definition_id_reaches_the_service_and_the_aggregator(
    devnet, performer_factory, aggregator, alice
):
    definition = devnet.create_definition()
    fake = aggregator()
    node = performer_factory(alice, fake.url, task_definition_id=definition)
    assert trigger(node).status_code == 200
    [sent] = fake.tasks
    assert sent["definition"] == definition
    assert sent["call"]["params"][2] == definition


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{oops", "not JSON"),
        (b"[]", "JSON object"),
        ({"params": [1, 2]}, "params: must be a JSON object"),
        ({"params": {"taskDefinitionId": 3}}, "taskDefinitionId"),
    ],
    ids=["malformed", "array", "params-not-object", "reserved-param"],
)
def test_bad_trigger_requests_are_refused_with_400(performer_factory, aggregator, alice, body, fragment):
    fake = aggregator()
    node = performer_factory(alice, fake.url)
    answer = trigger(node, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "bad_request"
    assert fragment in answer.json()["message"]
    assert fake.calls == []


# -- election ---------------------------------------------------------------------------------------


def test_round_robin_only_the_elected_operator_performs(devnet, performer_factory, aggregator, alice, bob):
    fake = aggregator()
    nodes = {op.id: performer_factory(op, fake.url, election="round-robin") for op in (alice, bob)}
    members = list(devnet.avs.definition_members(0))
    led: set[int] = set()
    for _ in range(len(members)):  # one full turn: every member leads once
        block = devnet.block()
        leader = round_robin(members, block)
        for operator_id, node in nodes.items():
            answer = trigger(node)
            if operator_id == leader:
                assert answer.status_code == 200, answer.text
                led.add(operator_id)
            else:
                assert answer.status_code == 409, answer.text
                refused = answer.json()
                assert refused["error"] == "not_elected"
                assert (refused["outcome"]["leader"], refused["outcome"]["block"]) == (leader, block)
        devnet.mine(1)
    assert led == {alice.id, bob.id}
    assert sorted(sent["task"].performer for sent in fake.tasks) == sorted([alice.address, bob.address])
    for node in nodes.values():
        assert (
            metric(node, "othentic_performer_tasks_total", trigger="demand", status="not_elected") == len(members) - 1
        )
        assert metric(node, "othentic_tasks_total", step="task.not_elected") == len(members) - 1


def test_stake_weighted_election_follows_the_block_hash(devnet, performer_factory, aggregator, alice, bob):
    fake = aggregator()
    nodes = {op.id: performer_factory(op, fake.url, election="stake") for op in (alice, bob)}
    members = devnet.avs.definition_members(0)
    expected_senders = []
    for _ in range(6):
        block = devnet.w3.eth.get_block("latest")
        leader = stake_weighted(members, bytes(block["hash"]))
        for operator_id, node in nodes.items():
            answer = trigger(node)
            assert answer.status_code == (200 if operator_id == leader else 409), answer.text
            if operator_id == leader:
                expected_senders.append(node.address)
            else:
                assert answer.json()["outcome"]["leader"] == leader
        devnet.mine(1)
    assert [sent["task"].performer for sent in fake.tasks] == expected_senders


def test_an_operator_outside_the_set_is_never_elected(devnet, performer_factory, aggregator):
    fake = aggregator()
    stranger = devnet.new_operator()
    node = performer_factory(stranger, fake.url, election="round-robin")
    for _ in range(3):
        answer = trigger(node)
        assert answer.status_code == 409
        assert answer.json()["outcome"]["leader"] in devnet.avs.definition_members(0)
        devnet.mine(1)
    assert fake.calls == []


# -- timed and chain triggers ------------------------------------------------------------------------


def test_every_seconds_trigger_sends_tasks_repeatedly(loop, performer_factory, aggregator, alice):
    fake = aggregator()
    started = time.monotonic()
    node = performer_factory(alice, fake.url, every_seconds=0.2)
    wait_until(lambda: len(fake.calls) >= 3, what="three timed tasks")
    elapsed = time.monotonic() - started
    loop.run(node.stop())
    assert elapsed >= 0.55  # three ticks of 0.2 s, not a burst
    assert all(sent["params"] == {"trigger": "seconds"} for sent in fake.tasks)
    assert len({sent["task"].proof_of_task for sent in fake.tasks}) == len(fake.calls)


def test_every_blocks_trigger_fires_on_block_numbers_divisible_by_n(loop, devnet, performer_factory, aggregator, alice):
    fake = aggregator()
    node = performer_factory(alice, fake.url, every_blocks=4, poll_interval=0.05)
    time.sleep(0.2)
    assert fake.calls == []  # no block passed: nothing to do
    devnet.mine(4)
    wait_until(lambda: len(fake.calls) == 1, what="a task after four blocks")
    devnet.mine(4)
    wait_until(lambda: len(fake.calls) == 2, what="a task after four more blocks")
    loop.run(node.stop())
    first, second = (sent["params"] for sent in fake.tasks)
    assert first["trigger"] == second["trigger"] == "blocks"
    assert first["blockNumber"] % 4 == 0
    assert second["blockNumber"] == first["blockNumber"] + 4
    assert "roundSignature" not in first  # no BLS key configured: no round signature


def test_with_the_operators_bls_key_a_task_with_a_block_carries_its_round_signature(
    loop, devnet, performer_factory, aggregator, alice
):
    fake = aggregator()
    node = performer_factory(alice, fake.url, every_blocks=4, poll_interval=0.05, bls=alice.keys)
    devnet.mine(4)
    wait_until(lambda: len(fake.calls) == 1, what="a task after four blocks")
    loop.run(node.stop())
    params = fake.tasks[0]["params"]
    raw = bytes.fromhex(params["roundSignature"].removeprefix("0x"))
    signature = G1Point(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    record = devnet.record
    digest = round_hash(record.attestation_center, record.chain_id, 0, params["blockNumber"])
    assert verify(alice.keys.public.g2, digest, signature)  # the operator's unique signature over its round
    assert not verify(alice.keys.public.g2, round_hash(record.attestation_center, record.chain_id, 0, 1), signature)

    # on demand without an election there is no block, hence no round to sign
    fake = aggregator()
    assert trigger(performer_factory(alice, fake.url, bls=alice.keys)).status_code == 200
    assert "roundSignature" not in fake.tasks[0]["params"]


def test_contract_event_trigger_passes_the_events_block_and_transaction(
    loop, devnet, performer_factory, aggregator, alice
):
    event = EventTrigger.from_signature(devnet.center, REGISTERED)
    abi = next(item for item in devnet.avs.center.abi if item.get("name") == "OperatorRegistered")
    assert event.topic == event_abi_to_log_topic(abi)
    fake = aggregator()
    node = performer_factory(alice, fake.url, event=event, poll_interval=0.05)

    newcomer = devnet.register()
    wait_until(lambda: len(fake.calls) == 1, what="a task for the registration event")
    devnet.create_definition()  # another event of the same contract: no task
    time.sleep(0.3)
    loop.run(node.stop())

    [sent] = fake.tasks
    params = sent["params"]
    receipt = newcomer.receipt
    assert params["trigger"] == "event"
    assert params["blockNumber"] == receipt["blockNumber"]
    assert params["transactionHash"] == "0x" + bytes(receipt["transactionHash"]).hex()
    assert params["address"] == devnet.center
    assert params["topics"][0] == "0x" + event.topic.hex()
    assert int(params["topics"][1], 16) == newcomer.id


def test_custom_message_triggers_a_task_with_the_message_in_the_params(performer_factory, aggregator, alice):
    fake = aggregator()
    node = performer_factory(alice, fake.url, on_message=True)
    answer = requests.post(node.url + "/p2p/message", json={"data": "0xc0ffee"}, timeout=HTTP_TIMEOUT)
    assert answer.status_code == 200
    assert answer.json() == {"data": True, "error": False, "message": "task triggered"}
    wait_until(lambda: len(fake.calls) == 1, what="a task for the message")
    assert fake.tasks[0]["params"] == {"trigger": "message", "message": "0xc0ffee"}


def test_custom_messages_do_nothing_when_that_trigger_is_off(performer_factory, aggregator, alice):
    fake = aggregator()
    node = performer_factory(alice, fake.url)
    answer = requests.post(node.url + "/p2p/message", json={"data": "0x01"}, timeout=HTTP_TIMEOUT)
    assert answer.status_code == 200 and answer.json()["data"] is False
    bad = requests.post(node.url + "/p2p/message", json={"data": "hello"}, timeout=HTTP_TIMEOUT)
    assert bad.status_code == 400 and "data" in bad.json()["message"]
    time.sleep(0.2)
    assert fake.calls == []


# -- who may trigger -----------------------------------------------------------------------------------

#: A network the test's requests (from 127.0.0.1) are not in: they come from an untrusted client.
ELSEWHERE = ("192.0.2.0/24",)


def signed_message(
    devnet, operator: Operator, body: bytes, timestamp: int | None = None, tag: bytes = PERFORMER_MESSAGE_TAG
) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return auth_headers(operator.key, tag, devnet.chain_id, devnet.center, keccak(body), stamp)


def test_a_trigger_from_an_untrusted_address_is_refused_and_runs_no_task(performer_factory, aggregator, alice):
    fake = aggregator()
    node = performer_factory(alice, fake.url, trusted_clients=ELSEWHERE)
    answer = trigger(node, {"params": {"x": 1}})
    assert answer.status_code == 403 and answer.json()["error"] == "untrusted_client", answer.text
    assert "127.0.0.1" in answer.json()["message"]
    assert not node.outcomes and fake.calls == []


def test_an_unsigned_message_from_an_untrusted_address_is_refused_and_runs_no_task(
    performer_factory, aggregator, alice
):
    fake = aggregator()
    node = performer_factory(alice, fake.url, on_message=True, trusted_clients=ELSEWHERE)
    answer = requests.post(node.url + "/p2p/message", json={"data": "0x01"}, timeout=HTTP_TIMEOUT)
    assert answer.status_code == 401 and answer.json()["error"] is True, answer.text
    assert "not signed" in answer.json()["message"]
    assert not node.outcomes and fake.calls == []


def test_a_message_signed_by_an_active_operator_triggers_a_task_from_anywhere(
    devnet, performer_factory, aggregator, alice, bob
):
    fake = aggregator()
    node = performer_factory(alice, fake.url, on_message=True, trusted_clients=ELSEWHERE)
    body = json.dumps({"data": "0xbeef"}).encode()
    headers = {"Content-Type": "application/json", **signed_message(devnet, bob, body)}
    answer = requests.post(node.url + "/p2p/message", data=body, headers=headers, timeout=HTTP_TIMEOUT)
    assert answer.status_code == 200 and answer.json()["data"] is True, answer.text
    wait_until(lambda: len(fake.calls) == 1, what="a task for the signed message")
    assert fake.tasks[0]["params"] == {"trigger": "message", "message": "0xbeef"}


def test_a_signed_message_replayed_or_relayed_to_attesters_triggers_no_second_task(
    devnet, performer_factory, aggregator, alice, bob
):
    fake = aggregator()
    node = performer_factory(alice, fake.url, on_message=True, trusted_clients=ELSEWHERE)
    body = json.dumps({"data": "0xfeed"}).encode()
    headers = {"Content-Type": "application/json", **signed_message(devnet, bob, body)}
    first = requests.post(node.url + "/p2p/message", data=body, headers=headers, timeout=HTTP_TIMEOUT)
    assert first.status_code == 200, first.text
    again = requests.post(node.url + "/p2p/message", data=body, headers=headers, timeout=HTTP_TIMEOUT)
    assert again.status_code == 409 and "received already" in again.json()["message"], again.text
    padded = {**headers, TIMESTAMP_HEADER: "0" + headers[TIMESTAMP_HEADER]}  # the same signed number
    again = requests.post(node.url + "/p2p/message", data=body, headers=padded, timeout=HTTP_TIMEOUT)
    assert again.status_code == 409, again.text
    # what an aggregator signs for an attester (the relay's tag) is no order to a performer
    relayed = {"Content-Type": "application/json", **signed_message(devnet, bob, body, tag=P2P_MESSAGE_TAG)}
    answer = requests.post(node.url + "/p2p/message", data=body, headers=relayed, timeout=HTTP_TIMEOUT)
    assert answer.status_code == 401, answer.text
    wait_until(lambda: len(fake.calls) == 1, what="the first message's task")
    assert [task["params"]["message"] for task in fake.tasks] == ["0xfeed"]  # refusals spawn nothing


@pytest.mark.parametrize("case", ["stranger", "stale", "other-body"])
def test_a_message_signed_by_a_stranger_or_stale_or_for_another_body_is_refused(
    devnet, performer_factory, aggregator, alice, bob, case
):
    fake = aggregator()
    node = performer_factory(alice, fake.url, on_message=True, trusted_clients=ELSEWHERE)
    body = json.dumps({"data": "0xbeef"}).encode()
    signer = devnet.new_operator() if case == "stranger" else bob
    stamp = int(time.time()) - 3600 if case == "stale" else None
    headers = signed_message(devnet, signer, b"{}" if case == "other-body" else body, stamp)
    answer = requests.post(
        node.url + "/p2p/message",
        data=body,
        headers={"Content-Type": "application/json", **headers},
        timeout=HTTP_TIMEOUT,
    )
    expected = {"stranger": 403, "stale": 401, "other-body": 401}[case]
    assert answer.status_code == expected and answer.json()["error"] is True, answer.text
    assert not node.outcomes and fake.calls == []


# -- failures -------------------------------------------------------------------------------------------


def test_an_execution_failure_is_answered_counted_and_not_sent(performer_factory, aggregator, alice):
    fake = aggregator()
    node = performer_factory(alice, fake.url)
    answer = trigger(node, {"params": {"fail": True}})
    assert answer.status_code == 502, answer.text
    assert answer.json()["error"] == "execution_failed"
    assert "no price today" in answer.json()["message"]
    assert fake.calls == []
    assert metric(node, "othentic_failures_total", reason="execution_failed") == 1
    assert metric(node, "othentic_performer_tasks_total", trigger="demand", status="execution_failed") == 1


def test_an_execution_service_that_is_down_is_named(performer_factory, aggregator, alice):
    url = closed_url()
    node = performer_factory(alice, aggregator().url, execution_url=url)
    answer = trigger(node)
    assert answer.status_code == 502
    assert url in answer.json()["message"]


def test_an_aggregator_error_is_answered_with_its_code(performer_factory, aggregator, alice):
    fake = aggregator(fail_first=1, message="task definition 0 does not exist")
    node = performer_factory(alice, fake.url)
    answer = trigger(node)
    assert answer.status_code == 502, answer.text
    assert answer.json()["error"] == "aggregator_error"
    assert "task definition 0 does not exist" in answer.json()["message"]
    assert answer.json()["outcome"]["errorCode"] == -32002
    assert answer.json()["outcome"]["taskHash"].startswith("0x")
    assert trigger(node).status_code == 200  # the next one goes through


def test_an_aggregator_that_is_down_gives_202_queued_naming_it(performer_factory, alice):
    url = closed_url() + "/"
    node = performer_factory(alice, url)
    answer = trigger(node)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["status"], body["attempts"]) == ("queued", 1)
    assert url in body["error"]
    assert body["taskHash"].startswith("0x")


def test_failures_never_stop_a_trigger_loop(loop, performer_factory, aggregator, alice):
    fake = aggregator(fail_first=2)
    node = performer_factory(alice, fake.url, every_seconds=0.1)
    wait_until(lambda: len(fake.calls) >= 4, what="tasks after two refusals")
    loop.run(node.stop())
    statuses = [outcome.status for outcome in node.outcomes]
    assert statuses[:2] == ["aggregator_error", "aggregator_error"]
    assert "sent" in statuses[2:]


def test_an_election_over_an_empty_set_fails_clearly(devnet, performer_factory, aggregator, alice):
    definition = devnet.create_definition(minimum_voting_power=10**27)  # no operator has that much stake
    assert devnet.avs.definition_members(definition) == {}
    fake = aggregator()
    node = performer_factory(alice, fake.url, task_definition_id=definition, election="round-robin")
    answer = trigger(node)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "election_failed"
    assert "empty operator set" in answer.json()["message"]
    assert fake.calls == []


# -- the outbox: signed tasks are kept until an aggregator takes them ---------------------------------

FAST_RETRY = {"retry_backoff": 0.05, "retry_backoff_max": 0.2}


def health(node: PerformerNode) -> dict[str, Any]:
    return requests.get(node.url + "/health", timeout=HTTP_TIMEOUT).json()


def port_of(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


def test_with_the_aggregator_down_a_task_waits_in_the_outbox_and_lands_when_it_comes_up(
    performer_factory, aggregator, alice
):
    url = closed_url() + "/"
    node = performer_factory(alice, url, **FAST_RETRY)
    answer = trigger(node, {"params": {"pair": "ETHUSDT"}})
    assert answer.status_code == 202, answer.text
    task_hash = answer.json()["taskHash"]
    waiting = health(node)
    assert waiting["status"] == "degraded"  # signed work that no aggregator takes
    assert waiting["outbox"]["pending"] == 1 and waiting["outbox"]["oldestPendingSeconds"] >= 0
    outcome = node.last_outcome
    assert outcome is not None and outcome.status == "queued"

    fake = aggregator(port=port_of(url))  # the aggregator comes up where the performer looks for it
    wait_until(lambda: node.last_outcome.status == "sent", what="the queued task to be taken")
    [sent] = fake.tasks
    assert "0x" + sent["task"].task_hash().hex() == task_hash
    assert sent["params"] == {"pair": "ETHUSDT"}
    assert outcome.aggregator == url and outcome.aggregator_result is True
    settled = health(node)
    assert (settled["status"], settled["outbox"]["pending"]) == ("ok", 0)
    assert metric(node, "othentic_performer_send_retries_total") >= 1
    assert metric(node, "othentic_performer_outbox_total", status="accepted") == 1
    assert metric(node, "othentic_performer_tasks_total", trigger="demand", status="sent") == 1


def test_once_an_aggregator_takes_a_task_what_waited_in_the_outbox_goes_at_once_not_after_its_backoff(
    performer_factory, aggregator, alice
):
    """Found by the chaos runs (aggregator SIGKILLed): tasks queued while it was down waited out
    their backoff (up to 30 s) after it was back, though fresh tasks went through."""
    url = closed_url() + "/"
    node = performer_factory(alice, url, retry_backoff=60.0, retry_backoff_max=60.0)
    queued = trigger(node, {"params": {"pair": "ETHUSDT"}})
    assert queued.status_code == 202, queued.text  # next try in 60 s

    fake = aggregator(port=port_of(url))
    fresh = trigger(node, {"params": {"pair": "BTCUSDT"}})
    assert fresh.status_code == 200, fresh.text  # the aggregator is back: it took this one
    wait_until(lambda: len(fake.tasks) == 2, timeout=10, what="the queued task to go once the aggregator took one")
    assert "0x" + fake.tasks[1]["task"].task_hash().hex() == queued.json()["taskHash"]
    assert health(node)["outbox"]["pending"] == 0


def test_with_two_aggregators_and_the_first_down_the_second_takes_the_task(performer_factory, aggregator, alice):
    down = closed_url() + "/"
    fake = aggregator()
    node = performer_factory(alice, f"{down},{fake.url}")
    assert node.config.aggregator_urls == (down, fake.url)
    answer = trigger(node)
    assert answer.status_code == 200, answer.text
    assert answer.json()["aggregatorUrl"] == fake.url
    assert len(fake.calls) == 1
    assert metric(node, "othentic_performer_send_retries_total") == 0  # failing over is not a retry


def test_a_busy_aggregator_is_failed_over_and_asked_again_later(performer_factory, aggregator, alice):
    busy = aggregator(fail_first=1, code=-32029, message="100 tasks are open: retry later")
    node = performer_factory(alice, [busy.url], **FAST_RETRY)
    answer = trigger(node)
    assert answer.status_code == 202, answer.text
    assert answer.json()["errorCode"] == -32029
    wait_until(lambda: node.last_outcome.status == "sent", what="the busy aggregator to take the task")
    assert len(busy.calls) == 2
    first, second = (call["params"] for call in busy.calls)
    assert first == second  # the very same signed task


def test_a_definite_refusal_by_every_aggregator_is_recorded_and_not_retried(loop, performer_factory, aggregator, alice):
    fake = aggregator(fail_first=1, code=-32001, message="signature does not recover to the performer")
    other = aggregator(fail_first=1, code=-32001, message="signature does not recover to the performer")
    node = performer_factory(alice, [fake.url, other.url], **FAST_RETRY)
    answer = trigger(node)
    assert answer.status_code == 502, answer.text
    assert answer.json()["outcome"]["errorCode"] == -32001
    task_hash = bytes.fromhex(answer.json()["outcome"]["taskHash"][2:])
    assert node._outbox is not None
    entry = node._outbox.get(task_hash)
    assert entry is not None and entry.status == "refused"
    assert (entry.error_code, entry.aggregator) == (-32001, fake.url)
    assert "does not recover" in entry.error
    # Nothing more is sent: a performer restarted on the same outbox has nothing pending either.
    loop.run(node.stop())
    again = performer_factory(alice, [fake.url, other.url], outbox_path=node.config.outbox_path, **FAST_RETRY)
    assert health(again)["outbox"]["pending"] == 0
    assert len(fake.calls) == 1 and len(other.calls) == 1  # each asked once: the answer is final


def test_a_task_one_aggregator_refuses_for_good_is_taken_by_the_next(performer_factory, aggregator, alice):
    """One aggregator's definite refusal may be its own settings or lagging view of the chain."""
    fake = aggregator(fail_first=1, code=-32003, message="the performer is not an active operator")
    other = aggregator()
    node = performer_factory(alice, [fake.url, other.url], **FAST_RETRY)
    answer = trigger(node)
    assert answer.status_code == 200, answer.text
    assert answer.json()["aggregatorUrl"] == other.url and len(other.calls) == 1


def test_a_task_no_aggregator_takes_before_its_deadline_expires(performer_factory, alice):
    node = performer_factory(alice, closed_url() + "/", task_deadline=0.3, **FAST_RETRY)
    answer = trigger(node)
    assert answer.status_code == 202, answer.text
    wait_until(lambda: node.last_outcome.status == "expired", what="the task to expire")
    assert "deadline" in node.last_outcome.error
    assert health(node)["outbox"]["pending"] == 0
    assert metric(node, "othentic_performer_outbox_total", status="expired") == 1


def test_a_restarted_performer_sends_what_its_outbox_kept(loop, performer_factory, aggregator, alice, tmp_path):
    outbox = tmp_path / "outbox.sqlite3"
    url = closed_url() + "/"
    first = performer_factory(alice, url, outbox_path=outbox, **FAST_RETRY)
    hashes = {trigger(first, {"params": {"n": n}}).json()["taskHash"] for n in range(3)}
    assert health(first)["outbox"]["pending"] == 3
    loop.run(first.stop())

    fake = aggregator(port=port_of(url))
    second = performer_factory(alice, url, outbox_path=outbox, **FAST_RETRY)
    wait_until(lambda: len(fake.calls) == 3, what="the kept tasks to be sent")
    assert {"0x" + sent["task"].task_hash().hex() for sent in fake.tasks} == hashes
    assert [sent["params"]["n"] for sent in fake.tasks] == [0, 1, 2]  # oldest first
    wait_until(lambda: health(second)["outbox"]["pending"] == 0, what="the outbox to empty")
    assert metric(second, "othentic_performer_outbox_total", status="accepted") == 3


class HoldingAggregator:
    """Takes ``sendTask`` requests and never answers them (the performer is killed meanwhile)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append(await request.json())
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_the_outbox_survives_a_kill_during_the_send(
    loop, devnet, execution_url, performer_factory, aggregator, alice, tmp_path
):
    """The task is written before it is sent: killed while ``sendTask`` is in flight, the performer
    still has it, and a new process on the same file sends it."""
    holding = HoldingAggregator()
    app = web.Application()
    app.router.add_post("/", holding.handle)
    runner = ServiceRunner(app, shutdown_timeout=0.1)
    held_url = loop.run(runner.start()) + "/"
    deployment = devnet.record.save(tmp_path / "deployment.json")
    outbox = tmp_path / "outbox.sqlite3"
    command = [sys.executable, "-m", "othentic_offchain.cli", "node", "performer", "--rpc", devnet.anvil.rpc_url]
    command += ["--deployment", str(deployment), "--private-key", alice.key, "--execution-service", execution_url]
    command += ["--aggregator", held_url, "--outbox", str(outbox), "--performer-port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = ""
        while "listening on" not in line:
            line = process.stdout.readline()
            assert line or process.poll() is None, "the performer exited before it listened"
        performer_url = line.rsplit(" ", 1)[1].strip()

        def trigger_in_background() -> None:
            with contextlib.suppress(requests.RequestException):  # the performer dies before it answers
                requests.post(performer_url + TRIGGER_PATH, json={}, timeout=HTTP_TIMEOUT)

        threading.Thread(target=trigger_in_background, daemon=True).start()
        wait_until(lambda: len(holding.calls) == 1, what="the sendTask in flight")
        process.kill()
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
        loop.run(runner.stop())
    proof, data, definition, performer, _signature = holding.calls[0]["params"]
    task_hash = TaskInfo(proof, data, performer, definition).task_hash()
    with Outbox(outbox, devnet.center, devnet.chain_id) as kept:
        entry = kept.get(task_hash)
        assert entry is not None and entry.pending

    fake = aggregator()
    performer_factory(alice, fake.url, outbox_path=outbox)
    wait_until(lambda: len(fake.calls) == 1, what="the kept task to be sent")
    assert fake.calls[0]["params"] == holding.calls[0]["params"]


# -- health, metrics, configuration -------------------------------------------------------------------


def test_health_and_metrics_describe_the_performer(performer_factory, aggregator, alice):
    fake = aggregator()
    node = performer_factory(alice, fake.url, every_blocks=1000, on_message=True, name="performer-health")
    trigger(node)
    health = requests.get(node.url + "/health", timeout=HTTP_TIMEOUT).json()
    assert health["status"] == "ok"
    assert (health["address"], health["operatorId"]) == (alice.address, alice.id)
    assert health["triggers"] == ["demand", "blocks", "message"]
    assert health["recentOutcomes"] == {"sent": 1}
    assert health["lastTask"]["status"] == "sent"
    assert health["aggregatorUrls"] == [fake.url]
    outbox = health["outbox"]
    assert (outbox["path"], outbox["pending"], outbox["oldestPendingSeconds"]) == (
        str(node.config.outbox_file),
        0,
        None,
    )
    assert metric(node, "othentic_performer_tasks_total", trigger="demand", status="sent") == 1
    assert metric(node, "othentic_performer_execution_seconds_count", outcome="ok") == 1
    assert metric(node, "othentic_performer_send_seconds_count", outcome="ok") == 1
    assert metric(node, "othentic_performer_outbox_total", status="accepted") == 1
    assert metric(node, "othentic_performer_send_retries_total") == 0
    for step in ("task.triggered", "task.executed", "task.signed", "task.kept", "task.sent"):
        assert metric(node, "othentic_tasks_total", step=step) == 1, step


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"election": "dictator"}, "election"),
        ({"every_blocks": 0}, "every_blocks"),
        ({"every_seconds": 0}, "every_seconds"),
        ({"params": {"taskDefinitionID": 1}}, "taskDefinitionID"),
        ({"task_definition_id": 70_000}, "uint16"),
        ({"aggregator_url": "ws://127.0.0.1:2"}, "http:// or https://"),
        ({"aggregator_url": " , "}, "at least one aggregator URL"),
        ({"aggregator_url": []}, "at least one aggregator URL"),
        ({"task_deadline": 0}, "task_deadline"),
        ({"retry_backoff": 0}, "retry_backoff"),
        ({"retry_backoff": 5, "retry_backoff_max": 1}, "retry_backoff"),
    ],
)
def test_configuration_mistakes_are_refused_up_front(devnet, alice, overrides, fragment):
    with pytest.raises(ValueError, match=fragment):
        PerformerConfig(
            devnet.anvil.rpc_url,
            devnet.record,
            alice.key,
            "http://127.0.0.1:1",
            overrides.pop("aggregator_url", "http://127.0.0.1:2"),
            **overrides,
        )
