"""othentic_offchain.jsonrpc.errors: error objects and the exception classes they map to."""

from __future__ import annotations

import pytest

from othentic_offchain.jsonrpc import (
    ApplicationError,
    InternalError,
    JsonRpcError,
    JsonRpcTransportError,
    MethodNotFound,
    ParseError,
)


def test_error_objects_map_back_to_their_classes():
    assert isinstance(JsonRpcError.from_wire({"code": -32700, "message": "m"}), JsonRpcError)
    assert type(JsonRpcError.from_wire({"code": -32700, "message": "m"})) is ParseError
    assert type(JsonRpcError.from_wire({"code": -32601, "message": "m"})) is MethodNotFound
    app = JsonRpcError.from_wire({"code": -32005, "message": "m", "data": {"k": 1}})
    assert type(app) is ApplicationError and app.data == {"k": 1}
    other = JsonRpcError.from_wire({"code": 7, "message": "m"})
    assert type(other) is JsonRpcError and other.code == 7
    assert type(JsonRpcError.from_wire("not an object")) is InternalError


def test_an_error_object_goes_to_the_wire_and_back_unchanged():
    error = ApplicationError(-32042, "not today", {"retryAfter": 3})
    assert error.to_wire() == {"code": -32042, "message": "not today", "data": {"retryAfter": 3}}
    back = JsonRpcError.from_wire(error.to_wire())
    assert (type(back), back.code, back.message, back.data) == (
        ApplicationError,
        -32042,
        "not today",
        {"retryAfter": 3},
    )
    assert "data" not in MethodNotFound("m").to_wire()


def test_application_error_codes_outside_the_reserved_range_are_a_programming_error():
    with pytest.raises(ValueError):
        ApplicationError(-32100, "no")
    with pytest.raises(ValueError):
        ApplicationError(-31999, "no")


def test_a_transport_error_is_a_connection_error_that_says_whether_anything_answered():
    silent = JsonRpcTransportError("http://x is unreachable: refused", url="http://x", reason="refused")
    assert isinstance(silent, ConnectionError) and not silent.answered and not silent.timed_out
    assert silent.reason == "refused"
    garbage = JsonRpcTransportError("http://x answered HTTP 502 ...", 502)
    assert garbage.answered and garbage.status == 502 and garbage.reason == str(garbage)
