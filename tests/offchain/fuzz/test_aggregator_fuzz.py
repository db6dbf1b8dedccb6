"""The aggregator's JSON-RPC (``POST /`` and ``/rpc``) and its ``GET /health`` and ``/metrics``,
fuzzed: every answer to bad input is a JSON-RPC error object of the right class (never -32603), or
for a request that is not a JSON-RPC call at all an ``ErrorBody``; the node keeps serving."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.jsonrpc.errors import INVALID_REQUEST, PARSE_ERROR
from othentic_offchain.nodes.aggregator import AggregatorConfig, AggregatorNode
from othentic_offchain.nodes.aggregator.messages import sign_custom_message
from tests.offchain.fuzz.fuzz_harness import (
    FUZZ,
    NOT_JSON,
    Answer,
    assert_error_body,
    assert_refused_or_closed,
    assert_rpc_error,
    content_types,
    deep_bodies,
    duplicate_keys,
    garbage_heads,
    json_scalars,
    malformed_json,
    other_methods,
    rpc_requests,
    send,
    strict_json,
    wrong_values,
)

METHODS = ["sendTask", "sendCustomMessage", "taskStatus", "health", "listTasks", "operatorActivity"]
MAX_BATCH = 20
MAX_REQUEST_BYTES = 1 << 20  # the default, over the deepest body the fuzzer sends: safejson must refuse it


@pytest.fixture(scope="module")
def aggregator(loop, devnet, tmp_path_factory):
    node = AggregatorNode(
        AggregatorConfig(
            rpc_url=devnet.anvil.rpc_url,
            deployment=devnet.record,
            ecdsa_key=devnet.new_operator().key,
            db_path=tmp_path_factory.mktemp("aggregator") / "tasks.sqlite3",
            max_batch=MAX_BATCH,
            max_request_bytes=MAX_REQUEST_BYTES,
            # the fuzzer sends custom messages by the hundred: the limiter answers, never the budget
            message_rate_total=1000.0,
        )
    )
    loop.run(node.start())
    yield node
    loop.run(node.stop())


@pytest.fixture
def url(aggregator):
    yield aggregator.url
    assert_still_serving(aggregator.url)


def assert_still_serving(url: str) -> None:
    """A valid call and the health route answer as they should."""
    answer = send(url + "/", json.dumps({"jsonrpc": "2.0", "method": "health", "id": 7}).encode())
    assert answer.status == 200 and answer.json["result"]["status"] == "ok", answer
    health = send(url + "/health", method="GET", content_type=None)
    assert health.status == 200 and health.json["status"] == "ok", health
    metrics = send(url + "/metrics", method="GET", content_type=None)
    assert metrics.status == 200 and b"othentic_" in metrics.body, metrics


def check_rpc_answer(answer: Answer, *, batch_of: int | None = None) -> list[int]:
    """A JSON-RPC answer to a fuzzed body: HTTP 200 with one object or a batch's array (or 204 when
    only notifications were sent); every error of a client class. Returns the error codes."""
    if answer.status == 204:
        assert answer.body == b"", answer
        return []
    assert answer.status == 200, answer
    assert answer.content_type.startswith("application/json"), answer
    body = answer.json
    items = body if isinstance(body, list) else [body]
    if isinstance(body, list):
        assert body and batch_of is not None and len(body) <= batch_of, answer
    codes = []
    for item in items:
        if isinstance(item, dict) and "result" in item:
            assert item.get("jsonrpc") == "2.0" and "id" in item and "error" not in item, answer
            continue
        codes.append(assert_rpc_error(item))
    return codes


@FUZZ
@given(body=st.one_of(malformed_json, deep_bodies), path=st.sampled_from(["/", "/rpc"]), content_type=content_types)
def test_a_body_that_is_not_json_is_a_parse_error_or_an_invalid_request(url, body, path, content_type):
    answer = send(url + path, body, content_type=content_type)
    if strict_json(body) is NOT_JSON:
        assert check_rpc_answer(answer) == [PARSE_ERROR], answer
    else:
        check_rpc_answer(answer, batch_of=MAX_BATCH)


@FUZZ
@given(message=rpc_requests(METHODS))
def test_a_malformed_call_is_answered_with_an_error_of_its_class(url, message):
    answer = send(url + "/", json.dumps(message).encode())
    is_call = isinstance(message, dict) and "id" in message
    check_rpc_answer(answer)
    if answer.status == 204:  # a notification of a valid shape: no answer, as the specification says
        assert not is_call and message.get("jsonrpc") == "2.0" and isinstance(message.get("method"), str), message


@FUZZ
@given(batch=st.lists(st.one_of(rpc_requests(METHODS), json_scalars), min_size=1, max_size=MAX_BATCH))
def test_a_batch_of_malformed_calls_is_answered_call_by_call(url, batch):
    check_rpc_answer(send(url + "/rpc", json.dumps(batch).encode()), batch_of=len(batch))


@FUZZ
@given(size=st.sampled_from([0, MAX_BATCH + 1, 1000]))
def test_an_empty_or_too_large_batch_is_one_invalid_request(url, size):
    call = {"jsonrpc": "2.0", "method": "health", "id": 1}
    assert check_rpc_answer(send(url + "/", json.dumps([call] * size).encode())) == [INVALID_REQUEST]


@FUZZ
@given(
    method=st.sampled_from(METHODS),
    arity=st.integers(0, 12),
    filler=json_scalars,
)
def test_a_call_with_the_wrong_number_of_params_is_invalid_params(url, method, arity, filler):
    message = {"jsonrpc": "2.0", "method": method, "params": [filler] * arity, "id": "x"}
    check_rpc_answer(send(url + "/", json.dumps(message).encode()))


@FUZZ
@given(key=st.sampled_from(["jsonrpc", "method", "params", "id"]), first=json_scalars)
def test_a_call_with_a_duplicate_key_is_answered_by_its_last_value(url, key, first):
    document = {"jsonrpc": "2.0", "method": "health", "params": [], "id": 9}
    answer = send(url + "/", duplicate_keys(document, key, first))
    assert answer.status == 200 and answer.json["result"]["status"] == "ok", answer


def custom_message_params(devnet, operator) -> list:
    """``sendCustomMessage``'s params signed now by ``operator``."""
    stamp = int(time.time())
    signature = sign_custom_message(operator.key, devnet.chain_id, devnet.center, b"\x01", None, stamp)
    return ["0x01", None, operator.address, "0x" + signature.hex(), stamp]


@pytest.fixture(scope="module")
def message_signer(devnet):
    """An active operator whose signed custom messages the aggregator takes."""
    return devnet.register()


@pytest.fixture(scope="module")
def valid_params(devnet, aggregator, message_signer) -> dict[str, list]:
    """Well-formed params of every method the aggregator registers (a registered performer's
    signed task for sendTask), by position, in the order the method declares them."""
    performer = devnet.register()
    task = TaskInfo("bafkrei-fuzz", b"\x01\x02", performer.address, 0)
    signature = "0x" + task.sign(performer.key, devnet.center, devnet.chain_id).hex()
    valid = {
        "sendTask": [task.proof_of_task, "0x0102", 0, performer.address, signature, "ecdsa", devnet.chain_id],
        # signed by an operator (unsigned calls are taken from trusted addresses only); signed again
        # at each use (custom_message_params): the timestamp must be fresh when the call arrives
        "sendCustomMessage": custom_message_params(devnet, message_signer),
        "taskStatus": ["0x" + task.task_hash().hex()],
        "health": [],
        "listTasks": [10, f"{time.time()!r}:0x{task.task_hash().hex()}", "open"],
        "operatorActivity": [],
    }
    declared = aggregator.rpc.methods
    assert set(declared) == set(valid), "a new method: give it well-formed params here"
    assert all(len(valid[name]) == len(method.params) for name, method in declared.items())
    return valid


@FUZZ
@given(data=st.data(), value=wrong_values, named=st.booleans())
def test_a_call_with_one_param_wrong_is_refused_with_a_client_error(
    url, devnet, aggregator, message_signer, valid_params, data, value, named
):
    name = data.draw(st.sampled_from(sorted(m for m in valid_params if valid_params[m])))
    declared = [param.name for param in aggregator.rpc.methods[name].params]
    params: list[Any] = list(valid_params[name])
    if name == "sendCustomMessage":
        params = custom_message_params(devnet, message_signer)
    params[data.draw(st.integers(0, len(params) - 1))] = value
    sent: Any = dict(zip(declared, params)) if named else params
    answer = send(url + "/", json.dumps({"jsonrpc": "2.0", "method": name, "params": sent, "id": 1}).encode())
    check_rpc_answer(answer)


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_is_refused_with_413_and_an_invalid_request(url, chunked):
    body = b'{"jsonrpc":"2.0","method":"health","id":1,"pad":"' + b"x" * MAX_REQUEST_BYTES + b'"}'
    answer = send(url + "/", iter([body]) if chunked else body)  # a generator is sent chunked
    assert answer.status == 413, answer
    assert assert_rpc_error(answer.json) == INVALID_REQUEST


@FUZZ
@given(method=other_methods.filter(lambda m: m != "POST"), path=st.sampled_from(["/", "/rpc"]))
def test_another_http_method_on_the_json_rpc_routes_is_an_error_body(url, method, path):
    assert_error_body(send(url + path, b"{}", method=method))


@FUZZ
@given(
    method=other_methods,
    path=st.sampled_from(["/health/x", "/nope", "/rpc/", "/%ff", "/metrics/x", "/attester/v1/attest"]),
)
def test_an_unknown_route_is_an_error_body(url, method, path):
    assert_error_body(send(url + path, b"{}", method=method))


@pytest.mark.parametrize("route", ["/health", "/metrics"])
def test_a_post_to_a_get_route_is_an_error_body(url, route):
    assert_error_body(send(url + route, b"{}"), statuses=range(405, 406))


def test_a_truncated_body_is_refused_or_dropped_and_the_node_keeps_serving(url):
    host = url.removeprefix("http://")
    head = f"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 100".encode()
    assert_refused_or_closed(url, head, b'{"jsonrpc":"2.0",')


@FUZZ
@given(head=garbage_heads)
def test_bytes_that_are_not_an_http_request_are_refused_or_closed(url, head):
    assert_refused_or_closed(url, head)
