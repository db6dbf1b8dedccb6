"""What the fuzz tests share: Hypothesis settings, strategies of hostile input, a raw HTTP client and
the properties every answer must have.

Every server is a real aiohttp app served on 127.0.0.1 (by the nodes' own ``start`` or by
``ServiceRunner``, in the module's :class:`~tests.offchain.nodes.node_harness.LoopThread`); the
tests speak to it from the test thread over real sockets, as a hostile client would. The property
of each example: the answer is the server's documented error shape (an ``ErrorBody``, the services'
envelope or a JSON-RPC error object), never a 5xx for bad input, a dropped connection or a hang;
and after the examples a normal request still succeeds.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from othentic_offchain.jsonrpc import APPLICATION_MAX, APPLICATION_MIN
from othentic_offchain.jsonrpc.errors import INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR
from othentic_offchain.safejson import MAX_JSON_DEPTH

#: Every example is answered within this many seconds, or the test fails (a hang is a finding).
ANSWER_TIMEOUT = 20.0

#: The fuzz profile: reproducible (derandomized, no example database), no deadline (a request
#: crosses threads and sockets), fixtures reused across examples (the servers are the point).
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

#: JSON-RPC codes that answer bad input: the protocol's own, or a method's refusal.
CLIENT_ERROR_CODES = frozenset({PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS})

# -- answers ----------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        shown = self.body if len(self.body) <= 300 else self.body[:300] + b"..."
        return f"Answer({self.status}, {self.content_type!r}, {shown!r})"


_session = requests.Session()


def send(
    url: str,
    body: bytes = b"",
    *,
    method: str = "POST",
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
) -> Answer:
    """One HTTP request as given (the body's bytes untouched); fails the test on a dropped
    connection or no answer within :data:`ANSWER_TIMEOUT`."""
    sent = dict(headers or {})
    if content_type is not None:
        sent["Content-Type"] = content_type
    try:
        response = _session.request(method, url, data=body, headers=sent, timeout=ANSWER_TIMEOUT)
    except requests.RequestException as exc:
        raise AssertionError(f"{method} {url} got no answer: {type(exc).__name__}: {exc}") from None
    return Answer(response.status_code, response.headers.get("Content-Type", ""), response.content)


def send_raw(url: str, head: bytes, body: bytes = b"") -> bytes:
    """Write a hand-made request (``head`` without its blank line) and half-close: what comes back
    before the server closes (possibly nothing, for a request it cannot complete)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=ANSWER_TIMEOUT) as sock:
        sock.sendall(head + b"\r\n\r\n" + body)
        sock.shutdown(socket.SHUT_WR)
        answer = bytearray()
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            raise AssertionError(f"no answer and no close within {ANSWER_TIMEOUT} s") from None
        except ConnectionResetError:
            pass
    return bytes(answer)


def assert_refused_or_closed(url: str, head: bytes, body: bytes = b"") -> None:
    """A hand-made request the server cannot take (not HTTP, or its body cut short) is answered
    with a 4xx status line or the connection is closed; either way within the timeout."""
    answer = send_raw(url, head, body)
    assert answer == b"" or answer.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), answer


#: Bytes where a request head should be: random, a broken request line, broken headers.
garbage_heads = st.one_of(
    st.binary(min_size=1, max_size=200).filter(lambda b: b"\r\n\r\n" not in b),
    st.sampled_from(
        [
            b"GET",
            b"POST / HTTP/9.9",
            b"POST / HTTP/1.1\r\nContent-Length: -1",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip",
            b"POST / HTTP/1.1\r\nHost: a\x00b",
            b"POST / HTTP/1.1\r\n" + b"X: " + b"y" * 20_000,
            b"\xff\xfe / HTTP/1.1",
        ]
    ),
)


def assert_error_body(answer: Answer, *, statuses: range = range(400, 500)) -> dict[str, Any]:
    """A node's (or the proof server's) error: JSON ``{"error": code, "message": text}``."""
    assert answer.status in statuses, answer
    assert answer.content_type.startswith("application/json"), answer
    body = answer.json
    assert isinstance(body, dict), answer
    assert isinstance(body.get("error"), str) and body["error"], answer
    assert isinstance(body.get("message"), str) and body["message"].strip(), answer
    return body


def assert_envelope_error(answer: Answer, *, statuses: range = range(400, 500)) -> dict[str, Any]:
    """The services' error envelope: ``{"data": null, "error": true, "message": text}``."""
    assert answer.status in statuses, answer
    assert answer.content_type.startswith("application/json"), answer
    body = answer.json
    assert isinstance(body, dict), answer
    assert body.get("data") is None and body.get("error") is True, answer
    assert isinstance(body.get("message"), str) and body["message"].strip(), answer
    return body


def assert_rpc_error(answer: Any, codes: frozenset[int] = CLIENT_ERROR_CODES) -> int:
    """One JSON-RPC error object for bad input: a code of ``codes`` or of the application range
    (a method's own refusal), a non-empty message, an ``id`` member."""
    assert isinstance(answer, dict), answer
    assert answer.get("jsonrpc") == "2.0" and "id" in answer and "result" not in answer, answer
    error = answer.get("error")
    assert isinstance(error, dict), answer
    code = error.get("code")
    assert isinstance(code, int) and (code in codes or APPLICATION_MIN <= code <= APPLICATION_MAX), answer
    assert isinstance(error.get("message"), str) and error["message"].strip(), answer
    return code


#: What :func:`strict_json` answers for bytes that are not JSON.
NOT_JSON: Any = object()


def strict_json(raw: bytes) -> Any:
    """``raw`` as RFC 8259 JSON (UTF-8, no ``NaN``, no lone surrogate) nested at most
    ``MAX_JSON_DEPTH`` deep, or :data:`NOT_JSON`: the oracle of what a server should parse."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_not_json)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # a lone surrogate does not encode
    except (ValueError, RecursionError):
        return NOT_JSON
    return value if _depth(value) <= MAX_JSON_DEPTH else NOT_JSON


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# -- strategies -------------------------------------------------------------------------------------

#: Numbers a field of any kind may receive: out of every range, of the wrong kind, edge values.
wrong_numbers = st.one_of(
    st.integers(min_value=-(2**300), max_value=2**300),
    st.sampled_from([-1, 0, 2**16, 2**53 + 1, 2**64, 2**255, 2**256, -(2**256), 10**4000]),
    st.floats(allow_nan=False, allow_infinity=False),
)

#: A short JSON value of any kind.
json_scalars = st.one_of(st.none(), st.booleans(), wrong_numbers, st.text(max_size=40))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

#: What goes into a field instead of what it should hold.
wrong_values = st.one_of(
    st.none(),
    st.booleans(),
    wrong_numbers,
    st.text(max_size=80),
    st.sampled_from(
        ["0x", "0x0", "0xzz", "0X" + "ab" * 40, "0x" + "00" * 31, "1e400", "NaN", "\u0000", "\ud800", "a\udfff"]
    ),
    st.lists(json_scalars, max_size=4),
    st.dictionaries(st.text(max_size=8), json_scalars, max_size=4),
)


def deep(depth: int, *, kind: str = "array", closed: bool = True) -> bytes:
    """An array (or object) nested ``depth`` levels, closed or left open."""
    opening, closing = (b"[", b"]") if kind == "array" else (b'{"a":', b"}")
    return opening * depth + (b"1" + closing * depth if closed else b"")


#: Bodies nested far deeper than any parser recursion should take (safejson refuses them).
deep_bodies = st.builds(
    deep,
    st.sampled_from([101, 1_000, 100_000]),
    kind=st.sampled_from(["array", "object"]),
    closed=st.booleans(),
)

#: Bytes that are not UTF-8, inside JSON-looking bodies.
invalid_utf8 = st.builds(
    lambda prefix, bad, suffix: b'{"' + prefix + bad + suffix + b'": 1}',
    st.binary(max_size=8),
    st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]),
    st.binary(max_size=8),
)

#: Not JSON at all, or JSON cut off, or JSON's non-standard constants.
malformed_json = st.one_of(
    st.binary(max_size=256),
    invalid_utf8,
    st.sampled_from([b"{", b'{"a":', b'{"a" 1}', b"[1,]", b"{'a': 1}", b"NaN", b"[Infinity]", b'{"a": -Infinity}']),
    st.builds(lambda value, cut: json.dumps(value).encode()[:cut], json_values, st.integers(0, 64)),
)

#: Content types a client may send (the nodes read the body whatever the header says).
content_types = st.sampled_from(
    [
        None,
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "\u00e9/\u00e9",
    ]
)

#: HTTP methods a route was not made for.
other_methods = st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "POST"])


def duplicate_keys(document: dict[str, Any], key: str, first: Any) -> bytes:
    """``document`` as JSON text with ``key`` given twice: ``first``, then the document's value."""
    text = json.dumps(document)
    return ("{" + json.dumps(key) + ": " + json.dumps(first) + ", " + text[1:]).encode()


def field_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The wire names of every field of ``model``, nested models' fields included."""
    paths = []
    for name, info in model.model_fields.items():
        wire = info.alias or (info.serialization_alias if info.serialization_alias else name)
        path = (*prefix, wire)
        paths.append(path)
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths.extend(field_paths(annotation, path))
    return paths


def mutated(model: type[BaseModel], valid: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """``valid`` (a good body of ``model``) with one field, top-level or nested, given a wrong
    value, deleted, or the body given an extra field."""
    paths = field_paths(model)

    def apply(path: tuple[str, ...], action: str, value: Any) -> dict[str, Any]:
        body = json.loads(json.dumps(valid))
        target = body
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        if action == "delete":
            target.pop(path[-1], None)
        else:
            target[path[-1]] = value
        return body

    return st.builds(apply, st.sampled_from(paths), st.sampled_from(["wrong", "wrong", "delete"]), wrong_values)


def rpc_requests(methods: list[str]) -> st.SearchStrategy[Any]:
    """JSON-RPC requests with any member missing, of a wrong type, or with wrong params."""
    ids = st.one_of(st.integers(-(2**70), 2**70), st.text(max_size=10), st.none(), wrong_values)
    names = st.one_of(st.sampled_from(methods), st.text(max_size=20), wrong_values)
    params = st.one_of(
        st.lists(wrong_values, max_size=9),
        st.dictionaries(st.text(max_size=20), wrong_values, max_size=6),
        wrong_values,
    )

    def build(
        version: Any, has_version: bool, request_id: Any, has_id: bool, name: Any, arguments: Any, has_params: bool
    ):
        message: dict[str, Any] = {}
        if has_version:
            message["jsonrpc"] = version
        if has_id:
            message["id"] = request_id
        message["method"] = name
        if has_params:
            message["params"] = arguments
        return message

    return st.builds(
        build,
        st.one_of(st.just("2.0"), st.sampled_from(["1.0", "2", 2.0, 2, None])),
        st.booleans(),
        ids,
        st.booleans(),
        names,
        params,
        st.booleans(),
    )
