"""othentic_offchain.jsonrpc.server: the JSON-RPC 2.0 server layer over real HTTP, and its parameter parsers.

Each test drives its coroutine with ``asyncio.run`` (no async plugin) against a server bound to
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from othentic_offchain.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    InvalidParams,
    JsonRpcServer,
    MethodNotFound,
    as_hex_bytes,
    as_int,
    as_str,
)
from tests.offchain.jsonrpc.jsonrpc_harness import call_raw, make_server, post, request, serving

# --- calls ----------------------------------------------------------------------------------------


def test_positional_params_are_bound_in_declared_order():
    status, answer, _ = call_raw(request("add", [2, 3], id=7))
    assert status == 200
    assert answer == {"jsonrpc": "2.0", "result": 5, "id": 7}


def test_named_params_and_aliases_are_accepted():
    _, answer, _ = call_raw(request("add", {"a": 2, "second": 5}, id="x"))
    assert answer == {"jsonrpc": "2.0", "result": 7, "id": "x"}


def test_missing_optional_param_takes_its_default_and_null_means_default():
    assert call_raw(request("add", [1]))[1]["result"] == 11
    assert call_raw(request("add", [1, None]))[1]["result"] == 11


def test_integer_params_accept_decimal_strings_like_javascript_clients_send():
    assert call_raw(request("add", ["4", "5"]))[1]["result"] == 9


def test_null_id_is_a_call_and_gets_an_answer():
    _, answer, _ = call_raw(request("echo", ["hi"], id=None))
    assert answer == {"jsonrpc": "2.0", "result": "hi", "id": None}


# --- notifications and batches --------------------------------------------------------------------


def test_notification_runs_and_gets_no_body():
    message = {"jsonrpc": "2.0", "method": "note", "params": ["seen"]}
    status, answer, notified = call_raw(message)
    assert status == 204 and answer is None
    assert notified == ["seen"]


def test_batch_answers_in_order_and_omits_notifications():
    batch = [
        request("add", [1, 2], id=1),
        {"jsonrpc": "2.0", "method": "note", "params": ["n"]},
        request("nope", [], id=2),
        request("echo", ["e"], id=3),
    ]
    status, answer, notified = call_raw(batch)
    assert status == 200
    assert [item["id"] for item in answer] == [1, 2, 3]
    assert answer[0]["result"] == 3
    assert answer[1]["error"]["code"] == METHOD_NOT_FOUND
    assert answer[2]["result"] == "e"
    assert notified == ["n"]


def test_batch_of_notifications_only_gets_no_body():
    batch = [{"jsonrpc": "2.0", "method": "note", "params": [i]} for i in range(3)]
    status, answer, notified = call_raw(batch)
    assert status == 204 and answer is None
    assert sorted(notified) == [0, 1, 2]


def test_batch_calls_run_concurrently():
    batch = [request("slow", [0.3], id=i) for i in range(5)]
    server, _ = make_server()

    async def go() -> float:
        async with serving(server) as url:
            started = asyncio.get_running_loop().time()
            await post(url, json.dumps(batch))
            return asyncio.get_running_loop().time() - started

    assert asyncio.run(go()) < 1.0


def test_empty_batch_is_an_invalid_request():
    _, answer, _ = call_raw([])
    assert answer["error"]["code"] == INVALID_REQUEST and answer["id"] is None


def test_batch_item_that_is_not_an_object_gets_its_own_invalid_request():
    _, answer, _ = call_raw([1, request("echo", ["ok"], id=9)])
    assert answer[0] == {"jsonrpc": "2.0", "error": answer[0]["error"], "id": None}
    assert answer[0]["error"]["code"] == INVALID_REQUEST
    assert answer[1]["result"] == "ok"


def test_batch_larger_than_the_limit_is_refused():
    batch = [request("echo", ["x"], id=i) for i in range(4)]
    _, answer, _ = call_raw(batch, max_batch=3)
    assert answer["error"]["code"] == INVALID_REQUEST
    assert "batch too large" in answer["error"]["message"]


# --- standard errors ------------------------------------------------------------------------------


def test_malformed_json_is_a_parse_error_with_null_id():
    status, answer, _ = call_raw(b'{"jsonrpc": "2.0", "method": "echo", "params": ["x"], "id": 1')
    assert status == 200
    assert answer["error"]["code"] == PARSE_ERROR
    assert answer["id"] is None


def test_body_that_is_not_utf8_is_a_parse_error():
    assert call_raw(b"\xff\xfe\x00")[1]["error"]["code"] == PARSE_ERROR


def test_deeply_nested_json_is_a_parse_error_and_the_server_keeps_serving():
    status, answer, _ = call_raw(b"[" * 200_000)
    assert status == 200
    assert answer["error"]["code"] == PARSE_ERROR
    assert "nested 200000 levels deep" in answer["error"]["message"]
    assert call_raw(b'{"jsonrpc": "2.0", "method": "echo", "params": ["x"], "id": 1}')[1]["result"] == "x"


@pytest.mark.parametrize(
    "message, fragment",
    [
        ({"method": "echo", "params": ["x"], "id": 1}, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": "1.0", "method": "echo", "params": ["x"], "id": 1}, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": "2.0", "method": 5, "id": 1}, "method must be a string"),
        ({"jsonrpc": "2.0", "method": "echo", "params": "x", "id": 1}, "params must be an array or an object"),
        ({"jsonrpc": "2.0", "method": "echo", "params": ["x"], "id": {"a": 1}}, "id must be a string"),
        ({"jsonrpc": "2.0", "method": "echo", "params": ["x"], "id": True}, "id must be a string"),
        ('"a JSON string"', "expected an object"),  # sent as is: valid JSON, not an object
    ],
)
def test_invalid_request_objects_are_refused_with_32600(message, fragment):
    _, answer, _ = call_raw(message)
    assert answer["error"]["code"] == INVALID_REQUEST
    assert fragment in answer["error"]["message"]


def test_unknown_method_is_32601_naming_it():
    _, answer, _ = call_raw(request("sendTaskz", []))
    assert answer["error"]["code"] == METHOD_NOT_FOUND
    assert "sendTaskz" in answer["error"]["message"]
    assert answer["id"] == 1


def test_missing_required_param_names_it_and_its_position():
    _, answer, _ = call_raw(request("add", []))
    error = answer["error"]
    assert error["code"] == INVALID_PARAMS
    assert "'a'" in error["message"] and "position 0" in error["message"]
    assert error["data"] == {"param": "a"}


def test_wrong_param_type_names_the_param_and_the_problem():
    _, answer, _ = call_raw(request("add", ["two", 3]))
    assert answer["error"]["code"] == INVALID_PARAMS
    assert "'a'" in answer["error"]["message"] and "expected an integer" in answer["error"]["message"]
    _, answer, _ = call_raw(request("bytes", ["0x123"]))
    assert "'data'" in answer["error"]["message"] and "odd number of digits" in answer["error"]["message"]


def test_too_many_positional_params_are_refused():
    _, answer, _ = call_raw(request("echo", ["a", "b"]))
    assert answer["error"]["code"] == INVALID_PARAMS
    assert "too many params" in answer["error"]["message"]


def test_unknown_named_param_is_refused_by_name():
    _, answer, _ = call_raw(request("echo", {"text": "a", "colour": "red"}))
    assert answer["error"]["code"] == INVALID_PARAMS
    assert "'colour'" in answer["error"]["message"]


def test_param_given_under_two_names_is_refused():
    _, answer, _ = call_raw(request("add", {"a": 1, "b": 2, "second": 3}))
    assert answer["error"]["code"] == INVALID_PARAMS
    assert "given twice" in answer["error"]["message"]


def test_handler_exception_is_32603_carrying_the_reason():
    _, answer, _ = call_raw(request("boom"))
    assert answer["error"]["code"] == INTERNAL_ERROR
    assert "KeyError" in answer["error"]["message"] and "the ledger is missing" in answer["error"]["message"]


def test_application_error_keeps_its_code_message_and_data():
    _, answer, _ = call_raw(request("refuse"))
    assert answer["error"] == {"code": -32042, "message": "not today", "data": {"retryAfter": 3}}


def test_request_over_the_size_limit_is_refused_before_parsing():
    big = json.dumps(request("echo", ["x" * 5000]))
    status, answer, _ = call_raw(big, max_request_bytes=1000)
    assert status == 413
    assert answer["error"]["code"] == INVALID_REQUEST
    assert "too large" in answer["error"]["message"] and answer["error"]["data"] == {"limit": 1000}


def test_registering_a_sync_handler_or_a_name_twice_fails():
    server = JsonRpcServer()

    async def ok() -> int:
        return 1

    server.register("ok", ok)
    with pytest.raises(ValueError):
        server.register("ok", ok)
    with pytest.raises(TypeError):
        server.register("sync", lambda: 1)  # type: ignore[arg-type]


def test_on_call_hook_sees_each_call_and_its_error_code():
    seen: list = []
    server, _ = make_server()
    server.on_call = lambda method, code: seen.append((method, code))

    async def go() -> None:
        await server.dispatch(
            json.dumps([request("add", [1, 2], id=1), request("zzz", [], id=2), request("add", ["x"], id=3)])
        )

    asyncio.run(go())
    assert sorted(seen, key=str) == sorted([("add", None), (None, METHOD_NOT_FOUND), ("add", INVALID_PARAMS)], key=str)


def test_in_process_call_raises_the_same_typed_errors():
    server, _ = make_server()

    async def go() -> None:
        assert await server.call("add", [1, 1]) == 2
        with pytest.raises(MethodNotFound):
            await server.call("missing")
        with pytest.raises(InvalidParams):
            await server.call("add", {"b": 1})

    asyncio.run(go())


def test_parsers_say_what_is_wrong():
    assert as_int("12") == 12 and as_int(3.0) == 3 and as_int("0x10") == 16
    with pytest.raises(TypeError, match="boolean"):
        as_int(True)
    with pytest.raises(TypeError, match="a string"):
        as_int("twelve")
    assert as_hex_bytes("0xABcd") == b"\xab\xcd"
    with pytest.raises(ValueError, match="0x-prefixed"):
        as_hex_bytes("abcd")
    with pytest.raises(ValueError, match="characters other than"):
        as_hex_bytes("0xzz")
    with pytest.raises(TypeError, match="null"):
        as_str(None)
