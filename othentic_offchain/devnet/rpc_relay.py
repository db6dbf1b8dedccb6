"""A JSON-RPC relay in front of a chain's endpoint (anvil) that fails on command: the RPC faults of
the chaos runs, for any test.

    with RpcRelay(anvil.rpc_url) as relay:        # serves relay.url, in its own thread and loop
        relay.refuse()                             # HTTP 503 to every request
        relay.wait_for("refused", 3)               # three requests refused (no guessed sleeps)
        relay.pass_through()                       # healthy again

Modes: ``pass_through``; ``refuse(status)`` (HTTP 503 or 429, nothing forwarded); ``hang`` (holds
requests unanswered until the mode changes, then forwards them); ``drop`` (closes the connection
without an answer); ``slow(seconds)`` (forwards after a delay); ``limit`` (HTTP 200 with a JSON-RPC
``-32005`` limit error). ``serve_chain_id(n)`` makes ``eth_chainId`` answer ``n`` whatever the
upstream says (an endpoint of another chain). Every request is counted by what was done with it
(``forwarded``, ``refused``, ``hung``, ``dropped``, ``limited``), and by method (``methods``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from typing import Any

import aiohttp
from aiohttp import web

__all__ = ["RpcRelay"]


class RpcRelay:
    def __init__(self, upstream: str, *, path: str = "/"):
        self.upstream = upstream
        self.path = path
        self.mode = "pass"
        self.status = 503
        self.delay = 0.0
        self.chain_id: int | None = None
        self.counts: Counter[str] = Counter()
        self.methods: Counter[str] = Counter()
        self.url = ""
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="rpc-relay", daemon=True)
        self._released: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> RpcRelay:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        self._set("pass")
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> RpcRelay:
        return self.start()

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    async def _start(self) -> None:
        self._released = asyncio.Event()
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}{self.path}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # -- commands (from any thread) ------------------------------------------------------------------

    def pass_through(self) -> None:
        self._set("pass")

    def refuse(self, status: int = 503) -> None:
        self.status = status
        self._set("refuse")

    def hang(self) -> None:
        self._set("hang")

    def drop(self) -> None:
        self._set("drop")

    def slow(self, seconds: float) -> None:
        self.delay = seconds
        self._set("slow")

    def limit(self) -> None:
        self._set("limit")

    def serve_chain_id(self, chain_id: int | None) -> None:
        self.chain_id = chain_id

    def wait_for(self, outcome: str, count: int, timeout: float = 15.0) -> None:
        """Block until ``count`` requests in all met ``outcome`` (``forwarded``, ``refused``, ...)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.counts[outcome] >= count, timeout):
                raise TimeoutError(f"the relay saw {self.counts[outcome]} {outcome} requests, not {count}")

    def wait_for_calls(self, method: str, count: int, timeout: float = 15.0) -> None:
        """Block until ``count`` requests in all called ``method`` (whatever was done with them)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.methods[method] >= count, timeout):
                raise TimeoutError(f"the relay saw {self.methods[method]} {method} calls, not {count}")

    def _set(self, mode: str) -> None:
        self.mode = mode
        if self._released is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        assert self._released is not None
        self._released.set()
        self._released = asyncio.Event()

    def _count(self, outcome: str) -> None:
        with self._changed:
            self.counts[outcome] += 1
            self._changed.notify_all()

    # -- serving -------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            message = json.loads(body)
        except ValueError:
            message = None
        calls = message if isinstance(message, list) else [message]
        with self._changed:
            for call in calls:
                if isinstance(call, dict):
                    self.methods[str(call.get("method"))] += 1
            self._changed.notify_all()
        mode = self.mode
        if mode == "refuse":
            self._count("refused")
            return web.Response(status=self.status, text="relay refusing")
        if mode == "limit":
            self._count("limited")
            error = {"code": -32005, "message": "request limit exceeded"}
            return web.json_response({"jsonrpc": "2.0", "id": _id(message), "error": error})
        if mode == "drop":
            self._count("dropped")
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if mode == "hang":
            self._count("hung")
            assert self._released is not None
            await self._released.wait()
        if mode == "slow":
            await asyncio.sleep(self.delay)
        if self.chain_id is not None and isinstance(message, dict) and message.get("method") == "eth_chainId":
            self._count("forwarded")
            return web.json_response({"jsonrpc": "2.0", "id": _id(message), "result": hex(self.chain_id)})
        assert self._session is not None
        async with self._session.post(self.upstream, data=body, headers={"Content-Type": "application/json"}) as answer:
            payload = await answer.read()
            status = answer.status
        self._count("forwarded")
        return web.Response(status=status, body=payload, content_type="application/json")


def _id(message: Any) -> Any:
    return message.get("id") if isinstance(message, dict) else None
