"""``othentic task``'s JSON-RPC call (``rpc_call``): results, and every failure as a one-line
ClickException, against a real JsonRpcServer on 127.0.0.1."""

from __future__ import annotations

import socket

import click
import pytest
from aiohttp import web

from othentic_offchain.cli.tasks import rpc_call
from tests.offchain.jsonrpc.jsonrpc_harness import make_server, serving_in_thread


@pytest.fixture(scope="module")
def base_url():
    server, _ = make_server()

    async def not_json(_request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>bad gateway</html>")

    app = web.Application()
    app.router.add_post("/", server.handle)
    app.router.add_post("/not-json", not_json)
    with serving_in_thread(app) as url:
        yield url


def test_the_result_comes_back(base_url):
    assert rpc_call(base_url + "/", "add", [1, 2]) == 3


def test_a_refusal_names_the_method_message_data_and_code(base_url):
    with pytest.raises(click.ClickException) as caught:
        rpc_call(base_url + "/", "refuse", [])
    assert caught.value.message == "refuse refused: not today ({'retryAfter': 3}) [code -32042]"


def test_an_unreachable_aggregator_is_named():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(click.ClickException, match=f"cannot reach the aggregator at {url}: "):
        rpc_call(url, "taskStatus", ["0x00"], timeout=5)


def test_an_answer_that_is_not_json_rpc_says_what_came_back(base_url):
    with pytest.raises(click.ClickException, match="answered HTTP 502 with a body that is not JSON"):
        rpc_call(base_url + "/not-json", "taskStatus", ["0x00"])
