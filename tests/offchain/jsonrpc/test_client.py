"""othentic_offchain.jsonrpc.client: the async and the blocking client against a real JsonRpcServer
on 127.0.0.1.

The async client's own tests run the server in the test's event loop (``asyncio.run``). The tests
parametrized over ``kind`` run one server in a background thread (module fixture) and call it with
either client, showing that both build the same requests and fail the same way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from othentic_offchain.jsonrpc import (
    METHOD_NOT_FOUND,
    ApplicationError,
    BlockingJsonRpcClient,
    InternalError,
    InvalidParams,
    InvalidRequest,
    JsonRpcClient,
    JsonRpcTransportError,
    MethodNotFound,
)
from tests.offchain.jsonrpc.jsonrpc_harness import make_server, serving, serving_in_thread

# --- client ---------------------------------------------------------------------------------------


def test_client_returns_results_and_raises_typed_errors():
    server, notified = make_server()

    async def go() -> None:
        async with serving(server) as url, JsonRpcClient(url) as client:
            assert await client.call("add", [20, 22]) == 42
            assert await client.call("add", {"a": 1}) == 11
            with pytest.raises(MethodNotFound) as missing:
                await client.call("nope")
            assert missing.value.code == METHOD_NOT_FOUND
            with pytest.raises(InvalidParams) as invalid:
                await client.call("add", ["x"])
            assert invalid.value.data == {"param": "a"}
            with pytest.raises(ApplicationError) as refused:
                await client.call("refuse")
            assert (refused.value.code, refused.value.data) == (-32042, {"retryAfter": 3})
            with pytest.raises(InternalError):
                await client.call("boom")
            await client.notify("note", ["via client"])

    asyncio.run(go())
    assert notified == ["via client"]


def test_client_batch_returns_results_and_errors_in_call_order():
    server, _ = make_server()

    async def go() -> list:
        async with serving(server) as url, JsonRpcClient(url) as client:
            return await client.batch([("add", [1, 1]), ("nope", None), ("echo", ["z"])])

    first, second, third = asyncio.run(go())
    assert first == 2 and third == "z"
    assert isinstance(second, MethodNotFound)


def test_client_raises_invalid_request_for_an_oversized_request():
    server, _ = make_server(max_request_bytes=200)

    async def go() -> None:
        async with serving(server) as url, JsonRpcClient(url) as client:
            with pytest.raises(InvalidRequest):
                await client.call("echo", ["x" * 1000])

    asyncio.run(go())


def test_client_raises_transport_error_when_nothing_listens():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def go() -> None:
        async with JsonRpcClient(f"http://127.0.0.1:{port}/", timeout=2) as client:
            with pytest.raises(JsonRpcTransportError):
                await client.call("echo", ["x"])

    asyncio.run(go())


def test_client_raises_transport_error_on_a_non_json_answer():
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>bad gateway</html>")

    async def go() -> None:
        app = web.Application()
        app.router.add_post("/", handler)
        async with TestServer(app, host="127.0.0.1") as test_server:
            async with JsonRpcClient(str(test_server.make_url("/"))) as client:
                with pytest.raises(JsonRpcTransportError) as caught:
                    await client.call("echo", ["x"])
                assert caught.value.status == 502

    asyncio.run(go())


# --- both clients, one behaviour ------------------------------------------------------------------

KINDS = ["async", "blocking"]
#: A JSON-RPC answer of about 100 kB sent in chunks, without a Content-Length.
STREAMED_TEXT = "y" * 100_000


async def _streamed(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    body = json.dumps({"jsonrpc": "2.0", "result": STREAMED_TEXT, "id": 1}).encode()
    for start in range(0, len(body), 8192):
        await response.write(body[start : start + 8192])
    await response.write_eof()
    return response


async def _not_json(_request: web.Request) -> web.Response:
    return web.Response(status=502, text="<html>bad gateway</html>")


async def _no_result(_request: web.Request) -> web.Response:
    return web.json_response({"jsonrpc": "2.0", "id": 1})


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """A JsonRpcServer at ``/`` (requests up to 2000 bytes), and endpoints that answer wrongly."""
    server, _ = make_server(max_request_bytes=2000)
    app = web.Application()
    app.router.add_post("/", server.handle)
    app.router.add_post("/streamed", _streamed)
    app.router.add_post("/not-json", _not_json)
    app.router.add_post("/no-result", _no_result)
    with serving_in_thread(app) as url:
        yield url


def call(kind: str, url: str, method: str, params: Any = None, **options: Any) -> Any:
    """One call with the ``kind`` of client, made for it."""
    if kind == "blocking":
        return BlockingJsonRpcClient(url, **options).call(method, params)

    async def go() -> Any:
        async with JsonRpcClient(url, **options) as client:
            return await client.call(method, params)

    return asyncio.run(go())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("kind", KINDS)
def test_a_call_returns_its_result(kind, base_url):
    url = base_url + "/"
    assert call(kind, url, "add", [20, 22]) == 42
    assert call(kind, url, "add", {"a": 1}) == 11
    assert call(kind, url, "add", (1, 2)) == 3  # a tuple goes as an array
    assert call(kind, base_url + "/streamed", "echo") == STREAMED_TEXT


@pytest.mark.parametrize("kind", KINDS)
def test_an_application_error_is_raised_as_its_class_with_code_message_and_data(kind, base_url):
    with pytest.raises(ApplicationError) as refused:
        call(kind, base_url + "/", "refuse")
    error = refused.value
    assert (error.code, error.message, error.data) == (-32042, "not today", {"retryAfter": 3})


@pytest.mark.parametrize("kind", KINDS)
def test_standard_errors_are_raised_as_their_classes(kind, base_url):
    url = base_url + "/"
    with pytest.raises(MethodNotFound):
        call(kind, url, "nope")
    with pytest.raises(InvalidParams) as invalid:
        call(kind, url, "add", ["x"])
    assert invalid.value.data == {"param": "a"}
    with pytest.raises(InternalError, match="the ledger is missing"):
        call(kind, url, "boom")
    with pytest.raises(InvalidRequest, match="too large"):  # HTTP 413 with a JSON-RPC error body
        call(kind, url, "echo", ["x" * 5000])


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_listening_is_a_transport_error_without_a_status(kind):
    url = f"http://127.0.0.1:{closed_port()}/"
    with pytest.raises(JsonRpcTransportError) as caught:
        call(kind, url, "echo", ["x"], timeout=5)
    error = caught.value
    assert error.status is None and not error.answered and not error.timed_out
    assert str(error).startswith(f"{url} is unreachable: ") and error.url == url


@pytest.mark.parametrize("kind", KINDS)
def test_a_slow_answer_is_a_transport_error_that_says_it_timed_out(kind, base_url):
    with pytest.raises(JsonRpcTransportError) as caught:
        call(kind, base_url + "/", "slow", [3], timeout=0.3)
    error = caught.value
    assert error.timed_out and error.status is None
    assert str(error) == f"{base_url}/ did not answer slow within 0.3 s"


@pytest.mark.parametrize("kind", KINDS)
def test_an_answer_that_is_not_json_rpc_is_a_transport_error_with_the_http_status(kind, base_url):
    with pytest.raises(JsonRpcTransportError) as caught:
        call(kind, base_url + "/not-json", "echo", ["x"])
    assert caught.value.status == 502 and caught.value.answered
    assert "not JSON" in str(caught.value) and "bad gateway" in str(caught.value)
    with pytest.raises(JsonRpcTransportError) as caught:
        call(kind, base_url + "/no-result", "echo", ["x"])
    assert caught.value.status == 200 and "without a JSON-RPC result" in str(caught.value)


@pytest.mark.parametrize("kind", KINDS)
def test_an_answer_over_the_size_limit_is_a_transport_error(kind, base_url):
    assert call(kind, base_url + "/", "echo", ["x" * 500], max_response_bytes=1000) == "x" * 500
    for path, params in (("/", ["x" * 1500]), ("/streamed", None)):  # with and without Content-Length
        with pytest.raises(JsonRpcTransportError) as caught:
            call(kind, base_url + path, "echo", params, max_response_bytes=1000)
        assert caught.value.status == 200
        assert "over 1000 bytes" in str(caught.value), str(caught.value)


# --- the blocking client --------------------------------------------------------------------------


def test_blocking_client_notifies_and_batches():
    server, notified = make_server()
    app = web.Application()
    app.router.add_post("/", server.handle)
    with serving_in_thread(app) as url:
        client = BlockingJsonRpcClient(url + "/")
        client.notify("note", ["blocking"])
        first, second, third = client.batch([("add", [1, 1]), ("nope", None), ("echo", ["z"])])
    assert notified == ["blocking"]
    assert first == 2 and third == "z"
    assert isinstance(second, MethodNotFound) and second.code == METHOD_NOT_FOUND


def test_one_blocking_client_serves_several_threads(base_url):
    client = BlockingJsonRpcClient(base_url + "/")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        sums = list(pool.map(lambda n: client.call("add", [n, n]), range(32)))
    assert sums == [2 * n for n in range(32)]


def test_blocking_client_refuses_a_nonsense_limit():
    with pytest.raises(ValueError, match="max_response_bytes"):
        BlockingJsonRpcClient("http://127.0.0.1:1/", max_response_bytes=0)
