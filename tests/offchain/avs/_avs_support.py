"""Helpers shared by the AVS service tests: sample tasks and servers on 127.0.0.1.

Tests are plain sync functions that drive their coroutines with ``asyncio.run``: no async test
plugin is needed, and each test gets a fresh event loop.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

T = TypeVar("T")

#: A performer address in EIP-55 form, and the same address in lowercase.
PERFORMER = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
PERFORMER_LOWER = PERFORMER.lower()


def task_body(**overrides: Any) -> dict[str, Any]:
    """A validation request body as Othentic nodes send it."""
    body: dict[str, Any] = {
        "proofOfTask": "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        "data": "0x68656c6c6f",
        "taskDefinitionId": 1,
        "performer": PERFORMER,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Drive one test's coroutine on a fresh event loop."""
    return asyncio.run(coro)


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[TestClient]:
    """The app behind a real TCP server on 127.0.0.1 and a client bound to it."""
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


@asynccontextmanager
async def tiny_server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], path: str = "/task/validate"
) -> AsyncIterator[str]:
    """A one-route stand-in for a foreign service (Othentic's Go example, a broken proxy, ...)."""
    app = web.Application()
    app.router.add_post(path, handler)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
