"""othentic_offchain.nodes.performer.aggregator: how the performer words the aggregator's answers
and failures (over real HTTP on 127.0.0.1; no chain needed)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aiohttp import web

from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.jsonrpc import ApplicationError, JsonRpcServer, Param
from othentic_offchain.nodes.performer import AggregatorClient, AggregatorError, AggregatorUnavailable
from othentic_offchain.nodes.performer.aggregator import Aggregators
from tests.offchain.jsonrpc.jsonrpc_harness import serving_in_thread


def aggregator_app() -> web.Application:
    """``sendTask`` echoes its proof of task, or refuses ``"refuse"`` (an unknown code),
    ``"busy"`` (-32029) and ``"unknown-definition"`` (-32002), and sleeps on ``"slow"``."""
    server = JsonRpcServer()

    @server.method("sendTask", [Param(name) for name in ("proof", "data", "definition", "performer", "sig")])
    async def send_task(proof: str, data: Any, definition: Any, performer: Any, sig: Any) -> str:
        if proof == "refuse":
            raise ApplicationError(-32042, "quorum not reachable", {"attesters": 0})
        if proof == "busy":
            raise ApplicationError(-32029, "100 tasks are open, the limit is 100: retry later", {"open": 100})
        if proof == "chain-down":
            raise ApplicationError(-32099, "could not read the chain", {"retry": True})
        if proof == "unknown-definition":
            raise ApplicationError(-32002, "task definition 0 does not exist", {"taskDefinitionId": 0})
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


def closed() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


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
    url = base_url + "/"
    assert str(caught.value) == f"aggregator {url} refused sendTask: quorum not reachable (code -32042)"
    assert (caught.value.code, caught.value.data, caught.value.url) == (-32042, {"attesters": 0}, url)


@pytest.mark.parametrize(
    ("proof", "definite"),
    [("unknown-definition", True), ("busy", False), ("chain-down", False), ("refuse", False)],
    ids=["unknown-definition", "busy", "asks-for-a-retry", "unknown-code"],
)
def test_only_refusals_that_cannot_change_are_definite(base_url, proof, definite):
    with pytest.raises(AggregatorError) as caught:
        send(base_url + "/", proof)
    assert caught.value.definite is definite


def send_to_all(urls: list[str], proof: str) -> tuple[str, Any]:
    async def go() -> tuple[str, Any]:
        aggregators = Aggregators(urls, timeout=5)
        try:
            return await aggregators.send_task(TaskInfo(proof, b"", "0x" + "11" * 20, 0), b"\x22" * 65)
        finally:
            await aggregators.close()

    return asyncio.run(go())


def test_aggregators_fail_over_to_the_next_url_when_one_is_down_or_busy(base_url):
    url = base_url + "/"
    assert send_to_all([closed(), url], "proof-1") == (url, "proof-1")
    with pytest.raises(AggregatorUnavailable) as caught:
        send_to_all([url, closed()], "busy")  # busy, then down: nobody took it, the code is kept
    assert caught.value.code == -32029 and f"aggregator {url} refused sendTask" in str(caught.value)


def test_a_definite_refusal_is_final_only_when_every_aggregator_refuses(base_url):
    url = base_url + "/"
    with pytest.raises(AggregatorError) as caught:
        send_to_all([url, url], "unknown-definition")
    assert caught.value.definite and caught.value.url == url


def test_a_definite_refusal_while_another_aggregator_is_down_may_pass_later(base_url):
    url = base_url + "/"
    with pytest.raises(AggregatorUnavailable) as caught:
        send_to_all([url, closed()], "unknown-definition")
    assert caught.value.code == -32002 and "does not exist" in str(caught.value)


@pytest.fixture(scope="module")
def lenient_url():
    """An aggregator that takes every task (another's settings, or a fresher view of the chain)."""
    server = JsonRpcServer()

    @server.method("sendTask", [Param(name) for name in ("proof", "data", "definition", "performer", "sig")])
    async def send_task(proof: str, data: Any, definition: Any, performer: Any, sig: Any) -> str:
        return proof

    app = web.Application()
    app.router.add_post("/", server.handle)
    with serving_in_thread(app) as url:
        yield url + "/"


def test_a_task_one_aggregator_refuses_for_good_is_taken_by_the_next(base_url, lenient_url):
    assert send_to_all([base_url + "/", lenient_url], "unknown-definition") == (lenient_url, "unknown-definition")


def test_aggregators_all_down_name_every_url():
    urls = [closed(), closed()]
    with pytest.raises(AggregatorUnavailable) as caught:
        send_to_all(urls, "proof-1")
    assert all(url in str(caught.value) for url in urls) and caught.value.code is None


def test_aggregators_need_a_url():
    with pytest.raises(ValueError, match="at least one"):
        Aggregators([])


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
