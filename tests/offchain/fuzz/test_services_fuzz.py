"""The Execution and Validation Services fuzzed from their own OpenAPI document: every operation it
lists gets malformed, deeply nested, oversized, truncated and mistyped bodies (mutated field by
field from the operation's request model) and every route gets the HTTP methods it does not list.
Each answer is the documented envelope: ``{"data", "error": false}`` with a 2xx, or
``{"data": null, "error": true, "message"}`` with a 4xx; never a 5xx for bad input.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from othentic_offchain.avs import Avs, Execution, ServiceRunner, Task, build_services_app, models
from othentic_offchain.avs.services import DEFAULT_MAX_BODY
from tests.offchain.avs._avs_support import task_body
from tests.offchain.fuzz.fuzz_harness import (
    FUZZ,
    Answer,
    assert_envelope_error,
    assert_refused_or_closed,
    content_types,
    deep_bodies,
    duplicate_keys,
    garbage_heads,
    malformed_json,
    mutated,
    other_methods,
    send,
    strict_json,
)

MAX_BODY = DEFAULT_MAX_BODY  # over the deepest body the fuzzer sends: safejson must refuse it
#: A good body of each request schema the document names.
VALID = {"Task": task_body(), "CustomMessage": {"data": "0x01"}, "ExecutionRequest": {"taskDefinitionId": 1}}
HTTP_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


@pytest.fixture(scope="module")
def service(loop):
    avs = Avs("fuzz", timeout=10)

    @avs.execute
    async def work(params: dict, _ctx: Any) -> Execution:
        return Execution(proof_of_task="bafkrei-fuzz", data=json.dumps(sorted(params)).encode())

    @avs.validate
    async def approve(_task: Task) -> bool:
        return True

    @avs.on_message
    async def take(_data: bytes) -> None:
        return None

    runner = ServiceRunner(build_services_app(avs, max_body=MAX_BODY))
    url = loop.run(runner.start())
    yield url
    loop.run(runner.stop())


@pytest.fixture(scope="module")
def document(service) -> dict:
    answer = send(service + "/openapi.json", method="GET", content_type=None)
    assert answer.status == 200, answer
    return answer.json


@pytest.fixture(scope="module")
def operations(document) -> list[tuple[str, str, str | None, bool]]:
    """(method, path, request schema name or None, body required) of every operation."""
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            request = operation.get("requestBody")
            schema = None
            if request is not None:
                schema = request["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
            found.append((method.upper(), path, schema, bool(request and request.get("required"))))
    assert {schema for _, _, schema, _ in found} == {None, *VALID}, "a new request schema: give VALID an example"
    return found


@pytest.fixture
def url(service):
    yield service
    health = send(service + "/health", method="GET", content_type=None)
    assert health.status == 200 and health.json["data"]["status"] == "ok", health
    vote = send(service + "/task/validate", json.dumps(task_body()).encode())
    assert vote.status == 200 and vote.json == {"data": True, "error": False, "message": None}, vote


def assert_answered_or_refused(answer: Answer) -> None:
    if 200 <= answer.status < 300:
        body = answer.json
        assert body["error"] is False and body["data"] is not None, answer
    else:
        assert_envelope_error(answer)


def posts(operations: list) -> list:
    return [operation for operation in operations if operation[2] is not None]


@FUZZ
@given(data=st.data(), body=st.one_of(malformed_json, deep_bodies), kind=content_types)
def test_every_operation_refuses_a_body_that_is_not_a_json_object_with_400(url, operations, data, body, kind):
    method, path, _schema, required = data.draw(st.sampled_from(posts(operations)))
    answer = send(url + path, body, method=method, content_type=kind)
    if not body.strip() and not required:  # documented: an empty body means the defaults
        assert answer.status == 200, answer
    elif isinstance(strict_json(body), dict):  # a cut that left a whole object
        assert_answered_or_refused(answer)
    else:
        assert_envelope_error(answer, statuses=range(400, 401))


@FUZZ
@given(data=st.data())
def test_every_operation_answers_or_refuses_a_body_with_one_field_wrong(url, operations, data):
    method, path, schema, _required = data.draw(st.sampled_from(posts(operations)))
    body = data.draw(mutated(getattr(models, schema), VALID[schema]))
    assert_answered_or_refused(send(url + path, json.dumps(body).encode(), method=method))


@FUZZ
@given(data=st.data(), first=st.one_of(st.none(), st.integers(), st.text(max_size=10)))
def test_every_operation_judges_a_duplicate_key_by_its_last_value(url, operations, data, first):
    method, path, schema, _required = data.draw(st.sampled_from(posts(operations)))
    key = data.draw(st.sampled_from(sorted(VALID[schema])))
    answer = send(url + path, duplicate_keys(VALID[schema], key, first), method=method)
    assert answer.status == 200 and answer.json["error"] is False, answer


@FUZZ
@given(data=st.data(), chunked=st.booleans())
def test_every_operation_refuses_a_body_over_the_limit_with_413(url, operations, data, chunked):
    method, path, _schema, _required = data.draw(st.sampled_from(posts(operations)))
    body = b" " * (MAX_BODY + 1)
    answer = send(url + path, iter([body]) if chunked else body, method=method)
    assert_envelope_error(answer, statuses=range(413, 414))


@FUZZ
@given(data=st.data())
def test_every_route_refuses_the_methods_it_does_not_list_with_405(url, document, data):
    path = data.draw(st.sampled_from(sorted(document["paths"])))
    listed = {method.upper() for method in document["paths"][path]}
    method = data.draw(st.sampled_from([m for m in HTTP_METHODS if m not in listed and not (m == "HEAD")]))
    if method == "GET" and "GET" not in listed and "HEAD" in listed:
        return
    assert_envelope_error(send(url + path, b"{}", method=method), statuses=range(405, 406))


@FUZZ
@given(method=other_methods, path=st.sampled_from(["/", "/task", "/task/execute/x", "/p2p", "/%ff", "/health/"]))
def test_an_unknown_route_is_refused_with_404(url, method, path):
    assert_envelope_error(send(url + path, b"{}", method=method), statuses=range(404, 406))


@pytest.mark.parametrize("path", ["/task/execute", "/task/validate", "/p2p/message"])
def test_a_truncated_body_is_refused_or_dropped_and_the_service_keeps_serving(url, path):
    host = url.removeprefix("http://")
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100".encode()
    assert_refused_or_closed(url, head, b'{"proofOfTask": "')


@FUZZ
@given(head=garbage_heads)
def test_bytes_that_are_not_an_http_request_are_refused_or_closed(url, head):
    assert_refused_or_closed(url, head)
