"""The attester's routes fuzzed: ``POST /attester/v1/attest`` and ``/p2p/message``, ``GET /health``
and ``/metrics``. Bad input gets a 4xx ``ErrorBody`` (the attest route) or the Validation Service's
envelope relayed (the message route), never a 5xx; the node keeps serving.

Whether a well-formed request is accepted is not the point here (who may ask for a vote is decided
elsewhere): a mutated request is either refused with a 4xx or answered with a vote.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from othentic_offchain.avs import Avs, ServiceRunner, Task, build_validation_app
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.crypto.auth import ATTEST_REQUEST_TAG, P2P_MESSAGE_TAG
from othentic_offchain.nodes.attester.node import AttesterConfig, AttesterNode
from othentic_offchain.nodes.common.protocol import (
    ATTEST_PATH,
    MESSAGE_PATH,
    AttestRequest,
    Vote,
    auth_headers,
    wire_task,
)
from tests.offchain.fuzz.fuzz_harness import (
    FUZZ,
    assert_envelope_error,
    assert_error_body,
    assert_refused_or_closed,
    content_types,
    deep_bodies,
    duplicate_keys,
    garbage_heads,
    malformed_json,
    mutated,
    other_methods,
    send,
    wrong_values,
)

#: aiohttp's default ``client_max_size``, which the attester's app keeps.
BODY_LIMIT = 1024**2


def not_hex(value) -> bool:
    """Not a message's data: ``0x`` and whole bytes of hex (``"0x"`` is the empty message) are."""
    return not (isinstance(value, str) and re.fullmatch(r"0[xX](?:[0-9a-fA-F]{2})*", value))


@pytest.fixture(scope="module")
def service(loop):
    avs = Avs("fuzz", timeout=10)

    @avs.validate()
    async def approve(_task: Task) -> bool:
        return True

    @avs.on_message
    async def take(_data: bytes) -> None:
        return None

    runner = ServiceRunner(build_validation_app(avs))
    url = loop.run(runner.start())
    yield url
    loop.run(runner.stop())


@pytest.fixture(scope="module")
def attester(loop, devnet, service, tmp_path_factory):
    operator = devnet.register()
    node = AttesterNode(
        AttesterConfig(
            rpc_url=devnet.anvil.rpc_url,
            deployment=devnet.record,
            ecdsa_key=operator.key,
            bls=operator.keys,
            validation_url=service,
            db_path=tmp_path_factory.mktemp("attester") / "votes.sqlite3",
        )
    )
    loop.run(node.start())
    yield node
    loop.run(node.stop())


@pytest.fixture
def url(attester):
    yield attester.url
    health = send(attester.url + "/health", method="GET", content_type=None)
    assert health.status == 200 and health.json["status"] == "ok", health
    metrics = send(attester.url + "/metrics", method="GET", content_type=None)
    assert metrics.status == 200 and b"othentic_attester" in metrics.body, metrics


@pytest.fixture(scope="module")
def aggregator(devnet):
    """An active operator other than the performer: whose signed requests the attester takes."""
    return devnet.register()


@pytest.fixture(scope="module")
def valid_request(devnet) -> dict:
    """A well-formed attest request for this attester's center and chain, signed by its (active) performer."""
    performer = devnet.register()
    task = TaskInfo("bafkrei-fuzz-attest", b"price=42", performer.address, 0)
    return {
        "task": wire_task(task).to_wire(),
        "taskHash": "0x" + task.task_hash().hex(),
        "performerSignature": "0x" + task.sign(performer.key, devnet.center, devnet.chain_id).hex(),
        "attestationCenter": devnet.center,
        "chainId": devnet.chain_id,
    }


@pytest.fixture(scope="module")
def signed(devnet, aggregator, valid_request) -> dict[str, str]:
    """The aggregator's headers for the valid request: a mutated body keeps them, so that what the
    fuzzing changes outside the signed fields reaches the checks behind authentication."""
    task_hash = bytes.fromhex(valid_request["taskHash"][2:])
    return auth_headers(aggregator.key, ATTEST_REQUEST_TAG, devnet.chain_id, devnet.center, task_hash)


def assert_refused_or_voted(answer) -> None:
    if answer.status == 200:
        Vote.model_validate(answer.json)
    else:
        assert_error_body(answer)


@FUZZ
@given(
    body=st.one_of(malformed_json, deep_bodies, wrong_values.map(lambda v: json.dumps(v).encode())), kind=content_types
)
def test_an_attest_body_that_is_not_an_attest_request_is_a_bad_request(url, signed, body, kind):
    answer = send(url + ATTEST_PATH, body, content_type=kind, headers=signed)
    # a body over the attest limit is refused for its size before it is parsed
    assert assert_error_body(answer, statuses=(400, 413))["error"] in ("bad_request", "too_large")


@FUZZ
@given(data=st.data())
def test_an_attest_request_with_a_field_wrong_or_missing_is_refused_or_voted(url, signed, valid_request, data):
    body = data.draw(mutated(AttestRequest, valid_request))
    assert_refused_or_voted(send(url + ATTEST_PATH, json.dumps(body).encode(), headers=signed))


@FUZZ
@given(
    key=st.sampled_from(["task", "taskHash", "performerSignature", "attestationCenter", "chainId"]), first=wrong_values
)
def test_an_attest_request_with_a_duplicate_key_is_judged_by_its_last_value(url, signed, valid_request, key, first):
    assert_refused_or_voted(send(url + ATTEST_PATH, duplicate_keys(valid_request, key, first), headers=signed))


def test_the_valid_signed_request_gets_a_vote(url, signed, valid_request):
    # what the fuzzing mutates is a request the attester votes on: the mutations start from a yes
    answer = send(url + ATTEST_PATH, json.dumps(valid_request).encode(), headers=signed)
    assert answer.status == 200, answer
    Vote.model_validate(answer.json)


@FUZZ
@given(
    body=st.one_of(
        malformed_json, deep_bodies, st.builds(lambda v: json.dumps({"data": v}).encode(), wrong_values.filter(not_hex))
    ),
    kind=content_types,
)
def test_a_message_that_is_not_hex_data_is_refused_with_the_services_envelope(url, devnet, aggregator, body, kind):
    # signed by an operator, the attester relays the body and its content type: the service's refusal comes back
    headers = auth_headers(
        aggregator.key, P2P_MESSAGE_TAG, devnet.chain_id, devnet.center, keccak(body), int(time.time())
    )
    answer = send(url + MESSAGE_PATH, body, content_type=kind, headers=headers)
    if answer.status == 413:  # over the attester's message limit: refused before it is relayed
        assert assert_error_body(answer, statuses=(413,))["error"] == "too_large"
    else:
        assert_envelope_error(answer)


@pytest.mark.parametrize("path", [ATTEST_PATH, MESSAGE_PATH])
def test_a_body_over_the_limit_is_refused_with_413_and_an_error_body(url, path):
    assert_error_body(send(url + path, b" " * (BODY_LIMIT + 1)), statuses=range(413, 414))


@FUZZ
@given(method=other_methods.filter(lambda m: m != "POST"), path=st.sampled_from([ATTEST_PATH, MESSAGE_PATH]))
def test_another_http_method_on_a_post_route_is_an_error_body(url, method, path):
    assert_error_body(send(url + path, b"{}", method=method))


@FUZZ
@given(method=other_methods, path=st.sampled_from(["/", "/attester/v1", "/attester/v1/attest/x", "/rpc"]))
def test_an_unknown_route_is_an_error_body(url, method, path):
    assert_error_body(send(url + path, b"{}", method=method))


@pytest.mark.parametrize("path", [ATTEST_PATH, MESSAGE_PATH])
def test_a_truncated_body_is_refused_or_dropped_and_the_node_keeps_serving(url, path):
    host = url.removeprefix("http://")
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100".encode()
    assert_refused_or_closed(url, head, b'{"task": {"proofOfTask": "')


@FUZZ
@given(head=garbage_heads)
def test_bytes_that_are_not_an_http_request_are_refused_or_closed(url, head):
    assert_refused_or_closed(url, head)
