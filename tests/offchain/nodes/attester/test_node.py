"""AttesterNode over HTTP: a real anvil, a real deployment, real Validation Services, real votes.

The nodes and services run on an event loop in a background thread (``LoopThread``); the tests
speak HTTP to them from the test thread with ``requests``, as an aggregator would.
The harness (``LoopThread``, ``Devnet``, ``Operator``, ...) is shared with ``test_performer.py``
through ``node_harness.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
import requests
from aiohttp import web
from eth_utils import keccak

from othentic_offchain.avs import Avs, ServiceRunner, Task, build_services_app
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.crypto import G1Point, KeyPair, PrecompileBackend, verify
from othentic_offchain.crypto.auth import ATTEST_REQUEST_TAG, P2P_MESSAGE_TAG
from othentic_offchain.crypto.ecdsa import SECP256K1_N
from othentic_offchain.nodes.attester.checks import Refusal
from othentic_offchain.nodes.attester.membership import Membership
from othentic_offchain.nodes.attester.node import AttesterConfig, AttesterNode
from othentic_offchain.nodes.common.protocol import ATTEST_PATH, auth_headers, wire_task
from othentic_offchain.nodes.common.redact import redact_url
from othentic_offchain.devnet.rpc_relay import RpcRelay
from tests.offchain.nodes.node_harness import HTTP_TIMEOUT, Devnet, Operator, closed_url, metric

# -- helpers local to these tests ---------------------------------------------------------------------


def sign_task(devnet: Devnet, task: TaskInfo, key: str) -> bytes:
    """The performer's signature bound to the devnet's center and chain, as our performers sign."""
    return task.sign(key, devnet.center, devnet.chain_id)


# -- fixtures ---------------------------------------------------------------------------------------


_proofs = itertools.count(1)


def unique_proof(label: str = "cid") -> str:
    return f"{label}-{next(_proofs)}"


class Judge:
    """The Validation Service's brain: a decision per proof of task, call counts, messages received."""

    def __init__(self) -> None:
        self.decisions: dict[str, bool] = {}
        self.calls: Counter[str] = Counter()
        self.messages: list[bytes] = []
        self.avs = Avs("judge", timeout=10)

        @self.avs.validate()
        async def judge(task: Task) -> bool:
            self.calls[task.proof_of_task] += 1
            if task.proof_of_task.startswith("fail"):
                raise RuntimeError("cannot read the proof")
            if task.proof_of_task.startswith("slow"):
                await asyncio.sleep(1.0)
            if task.proof_of_task.startswith("flip"):  # a different answer at every call
                return self.calls[task.proof_of_task] % 2 == 1
            return self.decisions.get(task.proof_of_task, True)

        @self.avs.on_message
        async def got(data: bytes) -> None:
            self.messages.append(data)


@pytest.fixture(scope="module")
def judge(loop):
    brain = Judge()
    runner = ServiceRunner(build_services_app(brain.avs))
    brain.url = loop.run(runner.start())
    yield brain
    loop.run(runner.stop())


@pytest.fixture(scope="module")
def go_service(loop):
    """Othentic's Go example answers ``{"data": {"result": bool}}``: this one always rejects."""

    async def validate(_request: web.Request) -> web.Response:
        return web.json_response({"data": {"result": False}, "error": False, "message": "task validated"})

    app = web.Application()
    app.router.add_post("/task/validate", validate)
    runner = ServiceRunner(app)
    url = loop.run(runner.start())
    yield url
    loop.run(runner.stop())


@pytest.fixture(scope="module")
def operator(devnet) -> Operator:
    return devnet.register()


@pytest.fixture(scope="module")
def performer(devnet) -> Operator:
    """Whoever performed the tasks: an active operator (the attester refuses tasks of others)."""
    return devnet.register()


@pytest.fixture(scope="module", autouse=True)
def aggregator(devnet) -> Operator:
    """The active operator that signs the requests :func:`post` sends (its key is :data:`SIGNER`)."""
    operator = devnet.register()
    SIGNER["key"] = operator.key
    return operator


@pytest.fixture(scope="module")
def node_factory(loop, devnet, tmp_path_factory):
    """Start attester nodes; all are stopped at the end of the module."""
    started: list[AttesterNode] = []

    def start(operator: Operator, service_url: str, **overrides: Any) -> AttesterNode:
        overrides.setdefault("db_path", tmp_path_factory.mktemp("attester") / "votes.sqlite3")
        overrides.setdefault("rpc_url", devnet.anvil.rpc_url)
        config = AttesterConfig(
            deployment=devnet.record,
            ecdsa_key=operator.key,
            bls=operator.keys,
            validation_url=service_url,
            chain_refresh=0.2,
            **overrides,
        )
        node = AttesterNode(config)
        loop.run(node.start())
        started.append(node)
        return node

    yield start
    for node in started:
        loop.run(node.stop())


@pytest.fixture(scope="module")
def attester(node_factory, operator, judge) -> AttesterNode:
    return node_factory(operator, judge.url)


def attest_body(
    devnet: Devnet, performer: Operator, proof: str, *, definition: int = 0, data: bytes = b"price=42", **overrides: Any
) -> dict[str, Any]:
    task = TaskInfo(proof, data, performer.address, definition)
    body = {
        "task": wire_task(task).to_wire(),
        "taskHash": "0x" + task.task_hash().hex(),
        "performerSignature": "0x" + sign_task(devnet, task, performer.key).hex(),
        "attestationCenter": devnet.center,
        "chainId": devnet.chain_id,
    }
    body.update(overrides)
    return body


#: The key :func:`post` signs with by default (the ``aggregator`` fixture's).
SIGNER: dict[str, str] = {}


def attest_headers(body: Any, key: str) -> dict[str, str]:
    """The headers an aggregator signing with ``key`` sends with ``body`` (none if it has no usable taskHash)."""
    if not isinstance(body, dict) or not isinstance(body.get("taskHash"), str) or len(body["taskHash"]) != 66:
        return {}
    center, chain_id = body.get("attestationCenter"), body.get("chainId")
    if not isinstance(center, str) or not isinstance(chain_id, int):
        return {}
    return auth_headers(key, ATTEST_REQUEST_TAG, chain_id, center, bytes.fromhex(body["taskHash"][2:]))


def message_headers(node: AttesterNode, raw: bytes, key: str, timestamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return auth_headers(key, P2P_MESSAGE_TAG, node.chain_id, node.attestation_center, keccak(raw), stamp)


def post(
    node: AttesterNode, body: Any, path: str = ATTEST_PATH, *, key: str | None = "default", timestamp: int | None = None
) -> requests.Response:
    """POST ``body`` (a dict as JSON, or raw bytes) signed with ``key`` (default :data:`SIGNER`; None: unsigned)."""
    if key == "default":
        key = SIGNER["key"]
    raw = body.encode() if isinstance(body, str) else body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        signed = attest_headers(body, key) if path == ATTEST_PATH else message_headers(node, raw, key, timestamp)
        headers.update(signed)
    return requests.post(node.url + path, data=raw, headers=headers, timeout=HTTP_TIMEOUT)


def assert_vote_verifies(devnet: Devnet, operator: Operator, body: dict, vote: dict) -> None:
    """The signature checks (pairing precompile on anvil) against the key registered on-chain."""
    task = TaskInfo(
        body["task"]["proofOfTask"], body["task"]["data"], body["task"]["performer"], body["task"]["taskDefinitionId"]
    )
    registered = devnet.avs.operator(vote["operatorId"])
    assert registered.account == operator.address
    signature = G1Point(*(int(word, 16) for word in vote["signature"]))
    digest = task.vote_hash(devnet.center, devnet.chain_id, vote["isApproved"])
    backend = PrecompileBackend(devnet.w3)
    assert verify(registered.pk_g2, digest, signature, backend)
    other_side = task.vote_hash(devnet.center, devnet.chain_id, not vote["isApproved"])
    assert not verify(registered.pk_g2, other_side, signature, backend)


# -- votes ------------------------------------------------------------------------------------------


def test_approving_service_gives_an_approve_vote_that_verifies_against_the_registered_key(
    devnet, attester, operator, performer, judge
):
    body = attest_body(devnet, performer, unique_proof())
    answer = post(attester, body)
    assert answer.status_code == 200, answer.text
    vote = answer.json()
    assert vote["isApproved"] is True
    assert vote["operatorId"] == operator.id
    assert vote["taskHash"] == body["taskHash"]
    assert all(isinstance(word, str) and word.startswith("0x") for word in vote["signature"])
    assert_vote_verifies(devnet, operator, body, vote)


def test_rejecting_service_gives_a_reject_vote_that_verifies(devnet, attester, operator, performer, judge):
    proof = unique_proof()
    judge.decisions[proof] = False
    body = attest_body(devnet, performer, proof)
    vote = post(attester, body).json()
    assert vote["isApproved"] is False
    assert_vote_verifies(devnet, operator, body, vote)


def test_a_task_of_a_created_definition_is_voted_on(devnet, attester, operator, performer):
    definition = devnet.create_definition()
    body = attest_body(devnet, performer, unique_proof(), definition=definition)
    answer = post(attester, body)
    assert answer.status_code == 200, answer.text
    assert_vote_verifies(devnet, operator, body, answer.json())


def test_a_second_request_gets_the_recorded_vote_without_asking_the_service_again(devnet, attester, performer, judge):
    proof = unique_proof()
    judge.decisions[proof] = True
    body = attest_body(devnet, performer, proof)
    first = post(attester, body).json()
    judge.decisions[proof] = False  # the service would now reject
    second = post(attester, body).json()
    assert second == first
    assert second["isApproved"] is True
    assert judge.calls[proof] == 1


def test_a_restarted_attester_on_the_same_db_keeps_its_vote(
    loop, devnet, node_factory, operator, performer, judge, tmp_path
):
    db_path = tmp_path / "restart.sqlite3"
    proof = unique_proof()
    judge.decisions[proof] = False
    body = attest_body(devnet, performer, proof)
    first_node = node_factory(operator, judge.url, db_path=db_path)
    first = post(first_node, body).json()
    loop.run(first_node.stop())

    judge.decisions[proof] = True
    second_node = node_factory(operator, judge.url, db_path=db_path)
    second = post(second_node, body).json()
    assert second == first
    assert second["isApproved"] is False
    assert judge.calls[proof] == 1
    health = requests.get(second_node.url + "/health", timeout=HTTP_TIMEOUT).json()
    assert health["votesRecorded"] == 1


def test_racing_requests_for_one_task_all_carry_the_one_recorded_vote(loop, devnet, attester, performer, judge):
    proof = unique_proof("flip")  # the service answers approve, reject, approve, ... if asked again
    body = attest_body(devnet, performer, proof)

    async def burst() -> list[tuple[int, dict]]:
        async with aiohttp.ClientSession() as session:

            async def one() -> tuple[int, dict]:
                headers = attest_headers(body, SIGNER["key"])
                async with session.post(attester.url + ATTEST_PATH, json=body, headers=headers) as answer:
                    return answer.status, await answer.json()

            return await asyncio.gather(*(one() for _ in range(8)))

    answers = loop.run(burst())
    assert {status for status, _ in answers} == {200}
    assert len({(vote["isApproved"], tuple(vote["signature"])) for _, vote in answers}) == 1
    assert judge.calls[proof] == 1
    assert attester.store.get(bytes.fromhex(body["taskHash"][2:])) is not None


def test_the_go_style_answer_shape_is_understood(devnet, node_factory, performer, go_service):
    other = devnet.register()
    node = node_factory(other, go_service)
    body = attest_body(devnet, performer, unique_proof())
    answer = post(node, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["isApproved"] is False
    assert_vote_verifies(devnet, other, body, answer.json())


def test_a_full_validate_url_works_as_well_as_the_base_url(devnet, node_factory, operator, performer, judge):
    node = node_factory(operator, judge.url + "/task/validate")
    answer = post(node, attest_body(devnet, performer, unique_proof()))
    assert answer.status_code == 200, answer.text


# -- refusals ---------------------------------------------------------------------------------------


def assert_refused(answer: requests.Response, status: int, code: str, *fragments: str) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == code
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    return body


def test_a_request_for_another_center_is_refused(devnet, attester, performer):
    other = "0x000000000000000000000000000000000000dEaD"
    answer = post(attester, attest_body(devnet, performer, unique_proof(), attestationCenter=other))
    assert_refused(answer, 400, "wrong_center", devnet.center, other)


def test_a_request_for_another_chain_is_refused(devnet, attester, performer):
    answer = post(attester, attest_body(devnet, performer, unique_proof(), chainId=1))
    assert_refused(answer, 400, "wrong_chain", str(devnet.chain_id))


def test_a_task_hash_that_is_not_the_tasks_is_refused(devnet, attester, performer):
    answer = post(attester, attest_body(devnet, performer, unique_proof(), taskHash="0x" + "ab" * 32))
    assert_refused(answer, 400, "task_hash_mismatch", "0x" + "ab" * 32)


def test_a_signature_by_someone_else_than_the_performer_is_refused(devnet, attester, performer, operator):
    body = attest_body(devnet, performer, unique_proof())
    task = TaskInfo(body["task"]["proofOfTask"], body["task"]["data"], performer.address, 0)
    body["performerSignature"] = "0x" + sign_task(devnet, task, operator.key).hex()
    assert_refused(post(attester, body), 400, "bad_performer_signature", operator.address, performer.address)


def test_an_othentic_performer_signature_over_the_bare_task_hash_gets_a_vote(devnet, attester, operator, performer):
    body = attest_body(devnet, performer, unique_proof())
    task = TaskInfo(body["task"]["proofOfTask"], body["task"]["data"], performer.address, 0)
    body["performerSignature"] = "0x" + task.sign_bare(performer.key).hex()
    answer = post(attester, body)
    assert answer.status_code == 200, answer.text
    assert_vote_verifies(devnet, operator, body, answer.json())


@pytest.mark.parametrize("elsewhere", ["another center", "another chain"])
def test_a_performer_signature_bound_to_another_center_or_chain_is_refused(devnet, attester, performer, elsewhere):
    body = attest_body(devnet, performer, unique_proof())
    task = TaskInfo(body["task"]["proofOfTask"], body["task"]["data"], performer.address, 0)
    center, chain_id = ("0x" + "42" * 20, devnet.chain_id) if elsewhere == "another center" else (devnet.center, 1)
    body["performerSignature"] = "0x" + task.sign(performer.key, center, chain_id).hex()
    assert_refused(post(attester, body), 400, "bad_performer_signature", "domain-bound", performer.address)


def test_a_malformed_performer_signature_is_refused(devnet, attester, performer):
    body = attest_body(devnet, performer, unique_proof(), performerSignature="0x" + "11" * 64)
    assert_refused(post(attester, body), 400, "bad_performer_signature", "65 bytes")


def test_a_high_s_performer_signature_is_refused(devnet, attester, performer):
    body = attest_body(devnet, performer, unique_proof())
    signature = bytes.fromhex(body["performerSignature"][2:])
    low_s = int.from_bytes(signature[32:64], "big")
    twin = signature[:32] + (SECP256K1_N - low_s).to_bytes(32, "big") + bytes([55 - signature[64]])
    body["performerSignature"] = "0x" + twin.hex()
    assert_refused(post(attester, body), 400, "bad_performer_signature", "high s")


def test_an_unknown_definition_is_refused_with_404(devnet, attester, performer, judge):
    proof = unique_proof()
    answer = post(attester, attest_body(devnet, performer, proof, definition=999))
    assert_refused(answer, 404, "unknown_definition", "999")
    assert judge.calls[proof] == 0


def test_an_operator_outside_a_restricted_definition_is_not_an_attester(devnet, attester, performer):
    insider = devnet.register()
    definition = devnet.create_definition(restricted_attester_ids=(insider.id,))
    answer = post(attester, attest_body(devnet, performer, unique_proof(), definition=definition))
    assert_refused(answer, 409, "not_an_attester", str(definition))


def test_an_unregistered_account_is_not_an_attester(devnet, node_factory, performer, judge):
    stranger = devnet.new_operator()
    node = node_factory(stranger, judge.url)
    answer = post(node, attest_body(devnet, performer, unique_proof()))
    assert_refused(answer, 409, "not_an_attester", stranger.address, "not a registered operator")


def test_an_operator_registered_after_the_node_started_can_attest(devnet, node_factory, performer, judge):
    late = devnet.new_operator()
    node = node_factory(late, judge.url)
    devnet.register(operator=late)
    answer = post(node, attest_body(devnet, performer, unique_proof()))
    assert answer.status_code == 200, answer.text
    assert answer.json()["operatorId"] == late.id


def test_a_node_whose_bls_key_is_not_the_registered_one_refuses_to_sign(
    devnet, node_factory, operator, performer, judge
):
    impostor = replace(operator, keys=KeyPair.from_seed(b"not the registered bls key of this operator"))
    node = node_factory(impostor, judge.url)
    answer = post(node, attest_body(devnet, performer, unique_proof()))
    assert_refused(answer, 409, "bls_key_mismatch", str(operator.id))


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        ({"taskHash": "0x00"}, "task: field required"),
        ("chainId", "chainId"),
        ("data", "task.data"),
        ("performer", "task.performer"),
        ("taskHash", "taskHash"),
    ],
    ids=[
        "malformed-json",
        "array",
        "missing-fields",
        "chain-id-text",
        "data-not-hex",
        "performer-not-address",
        "task-hash-short",
    ],
)
def test_malformed_requests_are_refused_naming_the_field(devnet, attester, performer, body, fragment):
    if isinstance(body, str):  # spoil one field of a good request
        good = attest_body(devnet, performer, unique_proof())
        spoiled = {
            "chainId": {"chainId": "thirty-one"},
            "data": {"task": {**good["task"], "data": "price=42"}},
            "performer": {"task": {**good["task"], "performer": "0x1234"}},
            "taskHash": {"taskHash": "0x1234"},
        }[body]
        body = {**good, **spoiled}
    assert_refused(post(attester, body), 400, "bad_request", fragment)


def test_a_service_that_is_down_gives_503_naming_its_url(devnet, node_factory, operator, performer):
    url = closed_url()
    node = node_factory(operator, url)
    answer = post(node, attest_body(devnet, performer, unique_proof()))
    assert_refused(answer, 503, "service_unavailable", url)


def test_a_service_that_is_too_slow_gives_503(devnet, node_factory, operator, performer, judge):
    node = node_factory(operator, judge.url, service_timeout=0.5)
    answer = post(node, attest_body(devnet, performer, unique_proof("slow")))
    assert_refused(answer, 503, "service_unavailable", "0.5 s", judge.url)


def test_a_service_error_gives_502_with_the_services_message(devnet, attester, performer, judge):
    proof = unique_proof("fail")
    answer = post(attester, attest_body(devnet, performer, proof))
    assert_refused(answer, 502, "service_error", "cannot read the proof", judge.url)
    assert attester.store.get(bytes.fromhex(attest_body(devnet, performer, proof)["taskHash"][2:])) is None


def test_a_node_on_the_wrong_chain_does_not_start(loop, devnet, operator, judge, tmp_path):
    wrong = replace(devnet.record, chain_id=1)
    config = AttesterConfig(
        devnet.anvil.rpc_url, wrong, operator.key, operator.keys, judge.url, db_path=tmp_path / "v.sqlite3"
    )
    node = AttesterNode(config)
    with pytest.raises(ValueError, match="chain 31337"):
        loop.run(node.start())
    assert node.url is None


# -- messages, health, metrics ------------------------------------------------------------------------


def test_a_custom_message_reaches_the_service_and_its_answer_comes_back(attester, judge):
    answer = post(attester, {"data": "0xc0ffee"}, path="/p2p/message")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"data": True, "error": False, "message": None}
    assert judge.messages[-1] == bytes.fromhex("c0ffee")


def test_a_bad_custom_message_gets_the_services_own_400(attester):
    answer = post(attester, {"data": "not hex"}, path="/p2p/message")
    assert answer.status_code == 400
    assert answer.json()["error"] is True


def test_a_custom_message_to_a_service_that_is_down_gives_503(node_factory, operator):
    url = closed_url()
    node = node_factory(operator, url)
    answer = post(node, {"data": "0x01"}, path="/p2p/message")
    assert_refused(answer, 503, "service_unavailable", url + "/p2p/message")


def test_health_reports_who_and_where_and_what_was_recorded(devnet, attester, operator, performer):
    post(attester, attest_body(devnet, performer, unique_proof()))
    health = requests.get(attester.url + "/health", timeout=HTTP_TIMEOUT).json()
    assert health["status"] == "ok"
    assert health["operatorId"] == operator.id
    assert health["address"] == operator.address
    assert health["attestationCenter"] == devnet.center
    assert health["chainId"] == devnet.chain_id
    assert health["serviceReachable"] is True and health["chainReachable"] is True
    assert health["votesRecorded"] == attester.store.count() >= 1


def test_health_says_when_the_service_is_unreachable(node_factory, operator):
    node = node_factory(operator, closed_url())
    health = requests.get(node.url + "/health", timeout=HTTP_TIMEOUT).json()
    assert health["status"] == "degraded"
    assert health["serviceReachable"] is False


def test_error_bodies_and_health_name_the_service_url_by_scheme_and_host_only(
    devnet, node_factory, operator, performer
):
    base = closed_url()
    node = node_factory(operator, base + "/v1/SECRETAPIKEY0123")
    answer = post(node, attest_body(devnet, performer, unique_proof()))
    body = assert_refused(answer, 503, "service_unavailable", base)
    assert "SECRETAPIKEY0123" not in answer.text, body
    health = requests.get(node.url + "/health", timeout=HTTP_TIMEOUT)
    assert health.json()["validationUrl"] == base
    assert "SECRETAPIKEY0123" not in health.text


def test_a_chain_failure_names_the_rpc_url_by_scheme_and_host_only(loop, devnet, operator, judge, tmp_path):
    secret_url = "https://user:hunter22@rpc.example.com:8443/v3/SECRETAPIKEY0123"
    config = AttesterConfig(secret_url, devnet.record, operator.key, operator.keys, judge.url, db_path=tmp_path / "v")
    membership = Membership(config, devnet.center)

    async def failing_read() -> None:
        raise ConnectionError(f"HTTPSConnectionPool: Max retries exceeded with url {secret_url} (/v3/SECRETAPIKEY0123)")

    with pytest.raises(Refusal) as refused:
        loop.run(membership.chain_call(failing_read()))
    assert refused.value.code == "chain_unavailable"
    assert "https://rpc.example.com:8443" in refused.value.message
    assert "SECRETAPIKEY0123" not in refused.value.message and "hunter22" not in refused.value.message


def test_health_answers_degraded_at_once_while_the_rpc_refuses_and_lists_its_endpoints_redacted(
    loop, devnet, node_factory, operator, judge
):
    with RpcRelay(devnet.anvil.rpc_url, path="/v3/SECRETAPIKEY0123") as relay:
        node = node_factory(operator, judge.url, rpc_url=relay.url)
        relay.refuse()
        started = time.monotonic()
        down = requests.get(node.url + "/health", timeout=HTTP_TIMEOUT)
        assert time.monotonic() - started < 10  # the probe's short deadline, not a call's 30 s
        relay.pass_through()
        up = requests.get(node.url + "/health", timeout=HTTP_TIMEOUT).json()
        loop.run(node.stop())  # before the relay goes
    assert down.json()["status"] == "degraded" and down.json()["chainReachable"] is False
    [endpoint] = down.json()["rpcEndpoints"]
    assert endpoint["endpoint"] == redact_url(relay.url) and endpoint["errors"]["http_5xx"] >= 1
    assert "SECRETAPIKEY0123" not in down.text
    assert up["chainReachable"] is True and up["block"] == devnet.block()


def test_metrics_count_votes_by_side_refusals_by_reason_and_validation_latency(
    devnet, node_factory, operator, performer, judge
):
    node = node_factory(operator, judge.url)
    approve, reject = unique_proof(), unique_proof()
    judge.decisions[reject] = False
    for proof in (approve, reject, reject):
        post(node, attest_body(devnet, performer, proof))
    post(node, attest_body(devnet, performer, unique_proof(), chainId=5))
    post(node, b"{")

    assert metric(node, "othentic_attester_votes_total", side="approve") == 1
    assert metric(node, "othentic_attester_votes_total", side="reject") == 1
    assert metric(node, "othentic_attester_votes_replayed_total") == 1
    assert metric(node, "othentic_attester_refusals_total", reason="wrong_chain") == 1
    assert metric(node, "othentic_attester_refusals_total", reason="bad_request") == 1
    assert metric(node, "othentic_attester_validation_seconds_count", outcome="approve") == 1
    assert metric(node, "othentic_attester_validation_seconds_count", outcome="reject") == 1
    assert metric(node, "othentic_attester_votes_recorded") == 2
    for step in ("task.received", "task.validated", "task.signed", "task.answered", "task.refused"):
        assert metric(node, "othentic_tasks_total", step=step) >= 1, step
    assert metric(node, "othentic_tasks_total", step="task.answered") == 3


def test_each_step_is_one_json_log_line(devnet, node_factory, operator, performer, judge, caplog):
    node = node_factory(operator, judge.url, name="attester-logs")
    body = attest_body(devnet, performer, unique_proof())
    with caplog.at_level("INFO", logger="othentic.attester-logs"):
        post(node, body)
    steps = [r.fields for r in caplog.records if r.name == "othentic.attester-logs"]
    assert [s["step"] for s in steps if s.get("task") == body["taskHash"]] == [
        "task.received",
        "task.validated",
        "task.signed",
        "task.answered",
    ]


# -- helpers ----------------------------------------------------------------------------------------
