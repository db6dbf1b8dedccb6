"""What the JSON-RPC tests share: a server with a few methods, ways to serve it on 127.0.0.1 (inside
a test's own event loop, or from a background thread for blocking callers), and raw POSTs."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from othentic_offchain.jsonrpc import ApplicationError, JsonRpcServer, Param, as_hex_bytes, as_int, as_str


def make_server(**kwargs: Any) -> tuple[JsonRpcServer, list]:
    """A server with ``add``, ``echo``, ``bytes``, ``note`` (a notification sink), ``boom`` (raises),
    ``refuse`` (an application error) and ``slow``; returns it and the list ``note`` appends to."""
    server = JsonRpcServer(**kwargs)
    notified: list = []

    @server.method("add", [Param("a", as_int), Param("b", as_int, default=10, aliases=("second",))])
    async def add(a: int, b: int) -> int:
        return a + b

    @server.method("echo", [Param("text", as_str)])
    async def echo(text: str) -> str:
        return text

    @server.method("bytes", [Param("data", as_hex_bytes)])
    async def length(data: bytes) -> int:
        return len(data)

    @server.method("note", [Param("value")])
    async def note(value: Any) -> None:
        notified.append(value)

    @server.method("boom")
    async def boom() -> None:
        raise KeyError("the ledger is missing")

    @server.method("refuse")
    async def refuse() -> None:
        raise ApplicationError(-32042, "not today", {"retryAfter": 3})

    @server.method("slow", [Param("seconds", float)])
    async def slow(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    return server, notified


@asynccontextmanager
async def serving(server: JsonRpcServer) -> AsyncIterator[str]:
    """``server`` at ``POST /`` on a free port of 127.0.0.1, in the running loop; yields its URL."""
    app = web.Application()
    app.router.add_post("/", server.handle)
    async with TestServer(app, host="127.0.0.1") as test_server:
        yield str(test_server.make_url("/"))


@contextmanager
def serving_in_thread(app: web.Application) -> Iterator[str]:
    """``app`` on a free port of 127.0.0.1, served by an event loop in a daemon thread (so that
    blocking code in the test's thread can call it); yields its base URL without a trailing slash."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="jsonrpc-test-server", daemon=True)
    thread.start()
    runner = web.AppRunner(app)

    async def start() -> str:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def post(url: str, body: bytes | str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
            raw = await response.read()
            return response.status, (json.loads(raw) if raw else None)


def call_raw(body: Any, **server_kwargs: Any) -> tuple[int, Any, list]:
    """Serve a fresh server, POST ``body`` (JSON-encoded unless bytes/str), return status, answer, notes."""
    server, notified = make_server(**server_kwargs)

    async def go() -> tuple[int, Any]:
        async with serving(server) as url:
            raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
            return await post(url, raw)

    status, answer = asyncio.run(go())
    return status, answer, notified


def request(method: str, params: Any = None, id: Any = 1) -> dict:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id}
    if params is not None:
        message["params"] = params
    return message
