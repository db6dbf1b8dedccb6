"""The performer's routes fuzzed: ``POST /performer/v1/trigger`` and ``/p2p/message``, ``GET
/health`` and ``/metrics``. Bad input gets a 4xx ``ErrorBody`` (the trigger) or the services'
envelope (the message route, whose body is the services' own); aiohttp's own refusals are
``ErrorBody`` answers too; the node keeps serving.

The performer's Execution Service and aggregator are URLs where nothing listens: a trigger that
passes the checks is answered ``502 execution_failed``, which tells it apart from a refusal.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from othentic_offchain.avs.models import CustomMessage
from othentic_offchain.nodes.common.protocol import MESSAGE_PATH
from othentic_offchain.nodes.performer.config import PerformerConfig
from othentic_offchain.nodes.performer.node import TRIGGER_PATH, PerformerNode
from tests.offchain.fuzz.fuzz_harness import (
    FUZZ,
    assert_envelope_error,
    assert_error_body,
    assert_refused_or_closed,
    content_types,
    deep_bodies,
    garbage_heads,
    json_values,
    malformed_json,
    other_methods,
    send,
    strict_json,
    wrong_values,
)
from tests.offchain.nodes.node_harness import closed_url

BODY_LIMIT = 1024**2  # aiohttp's default client_max_size, which the performer's app keeps


@pytest.fixture(scope="module")
def performer(loop, devnet, tmp_path_factory):
    node = PerformerNode(
        PerformerConfig(
            rpc_url=devnet.anvil.rpc_url,
            deployment=devnet.record,
            ecdsa_key=devnet.new_operator().key,
            execution_url=closed_url(),
            aggregator_url=closed_url(),
            outbox_path=tmp_path_factory.mktemp("performer") / "outbox.sqlite3",
        )
    )
    loop.run(node.start())
    yield node
    loop.run(node.stop())


@pytest.fixture
def url(performer):
    yield performer.url
    health = send(performer.url + "/health", method="GET", content_type=None)
    assert health.status == 200 and health.json["status"] == "ok", health
    metrics = send(performer.url + "/metrics", method="GET", content_type=None)
    assert metrics.status == 200 and b"othentic_performer" in metrics.body, metrics
    answer = send(performer.url + TRIGGER_PATH, b'{"params": {"pair": "ETH-USD"}}')
    assert assert_error_body(answer, statuses=range(502, 503))["error"] == "execution_failed", answer


def _a_trigger(raw: bytes) -> bool:
    """Whether ``raw`` passes the trigger's checks (then the node tries to run the task)."""
    body = strict_json(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        return False
    params = body.get("params")
    return params is None or (isinstance(params, dict) and not {"taskDefinitionId", "taskDefinitionID"} & set(params))


@FUZZ
@given(
    body=st.one_of(
        malformed_json,
        deep_bodies,
        json_values.map(lambda v: json.dumps(v).encode()),
        st.builds(lambda p: json.dumps({"params": p}).encode(), wrong_values),
        st.builds(lambda v: json.dumps({"params": {"taskDefinitionId": v}}).encode(), wrong_values),
    ),
    kind=content_types,
)
def test_a_trigger_body_that_is_not_a_trigger_is_a_bad_request(url, body, kind):
    answer = send(url + TRIGGER_PATH, body, content_type=kind)
    if _a_trigger(body):
        assert assert_error_body(answer, statuses=range(502, 503))["error"] == "execution_failed"
    else:
        assert assert_error_body(answer, statuses=range(400, 401))["error"] == "bad_request"


@FUZZ
@given(
    body=st.one_of(
        malformed_json,
        deep_bodies,
        json_values.map(lambda v: json.dumps(v).encode()),
        st.builds(lambda v: json.dumps({"data": v}).encode(), wrong_values),
    )
)
def test_a_message_that_is_not_hex_data_is_refused_with_the_services_envelope(url, body):
    answer = send(url + MESSAGE_PATH, body)
    try:
        CustomMessage.model_validate_json(body)
    except ValueError:
        assert_envelope_error(answer, statuses=range(400, 401))
    else:  # hex data: taken, and ignored by this performer (it does not act on messages)
        assert answer.status == 200 and answer.json["data"] is False, answer


@pytest.mark.parametrize("path", [TRIGGER_PATH, MESSAGE_PATH])
def test_a_body_over_the_limit_is_refused_with_413_and_an_error_body(url, path):
    assert_error_body(send(url + path, b" " * (BODY_LIMIT + 1)), statuses=range(413, 414))


@FUZZ
@given(method=other_methods.filter(lambda m: m != "POST"), path=st.sampled_from([TRIGGER_PATH, MESSAGE_PATH]))
def test_another_http_method_on_a_post_route_is_an_error_body(url, method, path):
    assert_error_body(send(url + path, b"{}", method=method), statuses=range(405, 406))


@FUZZ
@given(method=other_methods, path=st.sampled_from(["/", "/performer/v1", "/performer/v1/trigger/x", "/rpc"]))
def test_an_unknown_route_is_an_error_body(url, method, path):
    assert_error_body(send(url + path, b"{}", method=method), statuses=range(404, 406))


@pytest.mark.parametrize("path", [TRIGGER_PATH, MESSAGE_PATH])
def test_a_truncated_body_is_refused_or_dropped_and_the_node_keeps_serving(url, path):
    host = url.removeprefix("http://")
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100".encode()
    assert_refused_or_closed(url, head, b'{"params": {"pair": "')


@FUZZ
@given(head=garbage_heads)
def test_bytes_that_are_not_an_http_request_are_refused_or_closed(url, head):
    assert_refused_or_closed(url, head)
