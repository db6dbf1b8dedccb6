"""othentic_offchain.nodes.performer.aggregator: how the performer words the aggregator's answers
and failures (over real HTTP on 127.0.0.1; no chain needed)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aiohttp import web

from othentic_offchain.jsonrpc import ApplicationError, JsonRpcServer, Param
from othentic_offchain.nodes.performer import AggregatorClient, AggregatorError, AggregatorUnavailable
from tests.offchain.jsonrpc.jsonrpc_harness import serving_in_thread


def aggregator_app() -> web.Application:
    """``sendTask`` echoes its proof of task, or refuses ``"refuse"`` and sleeps on ``"slow"``."""
    server = JsonRpcServer()

    @server.method("sendTask", [Param(name) for name in ("proof", "data", "definition", "performer", "sig")])
    async def send_task(proof: str, data: Any, definition: Any, performer: Any, sig: Any) -> str:
        if proof == "refuse":
            raise ApplicationError(-32042, "quorum not reachable", {"attesters": 0})
        if proof == "slow":
            await asyncio.sleep(3)
        return proof

    async def not_json(_request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>bad gateway</html>")

    app = web.Application()
    app.router.add_post("/", server.handle)
    app.router.add_post("/not-json", not_json)
    return app


@pytest.fixture(scope="module")
def base_url():
    with serving_in_thread(aggregator_app()) as url:
        yield url


def send(url: str, proof: str, timeout: float = 30.0) -> Any:
    async def go() -> Any:
        client = AggregatorClient(url, timeout)
        try:
            return await client.call("sendTask", [proof, "0x", 0, "0x" + "11" * 20, "0x" + "22" * 65])
        finally:
            await client.close()

    return asyncio.run(go())


def test_the_result_is_the_aggregators_answer(base_url):
    assert send(base_url + "/", "proof-1") == "proof-1"


def test_a_refusal_is_an_aggregator_error_with_its_code_and_data(base_url):
    with pytest.raises(AggregatorError) as caught:
        send(base_url + "/", "refuse")
    assert str(caught.value) == "aggregator refused sendTask: quorum not reachable (code -32042)"
    assert (caught.value.code, caught.value.data) == (-32042, {"attesters": 0})


def test_an_answer_that_is_not_json_rpc_is_an_aggregator_error_without_a_code(base_url):
    url = base_url + "/not-json"
    with pytest.raises(AggregatorError) as caught:
        send(url, "proof-1")
    assert str(caught.value).startswith(f"aggregator at {url} answered HTTP 502 with a body that is not JSON: ")
    assert caught.value.code is None


def test_nothing_listening_is_unavailable_naming_the_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    with pytest.raises(AggregatorUnavailable) as caught:
        send(url, "proof-1", timeout=5)
    assert str(caught.value).startswith(f"aggregator at {url} is unreachable: ")


def test_a_slow_aggregator_is_unavailable_after_the_timeout(base_url):
    url = base_url + "/"
    with pytest.raises(AggregatorUnavailable) as caught:
        send(url, "slow", timeout=0.3)
    assert str(caught.value) == f"aggregator at {url} did not answer sendTask within 0.3 s"


def test_the_url_must_be_http():
    with pytest.raises(ValueError, match="http"):
        AggregatorClient("ws://127.0.0.1:1")
