"""``othentic task``'s JSON-RPC call (``rpc_call``): results, and every failure as a one-line
ClickException, against a real JsonRpcServer on 127.0.0.1; and which center and chain
``othentic task send`` binds the performer's signature to."""

from __future__ import annotations

import socket

import click
import pytest
from aiohttp import web
from click.testing import CliRunner
from eth_account import Account

from othentic_offchain.chain.deploy import DeploymentRecord
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.cli import cli
from othentic_offchain.cli.tasks import rpc_call
from othentic_offchain.crypto import recover_task_signer
from othentic_offchain.jsonrpc import JsonRpcServer, Param
from tests.offchain.jsonrpc.jsonrpc_harness import make_server, serving_in_thread

PERFORMER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
SERVED_CENTER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SERVED_CHAIN = 31337


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


# --- othentic task send: the signature's center and chain ------------------------------------------


@pytest.fixture(scope="module")
def aggregator_url():
    """An aggregator stand-in: ``health`` names the center and chain it serves, ``sendTask`` keeps
    what it was sent."""
    server = JsonRpcServer()
    sent: list[list] = []

    @server.method("health")
    async def health() -> dict:
        return {"status": "ok", "chainId": SERVED_CHAIN, "attestationCenter": SERVED_CENTER}

    @server.method("sendTask", [Param(name) for name in ("proof", "data", "definition", "performer", "signature")])
    async def send_task(proof, data, definition, performer, signature) -> str:
        sent.append([proof, data, definition, performer, signature])
        task = TaskInfo(proof, bytes.fromhex(data[2:]), performer, definition)
        return "0x" + task.task_hash().hex()

    app = web.Application()
    app.router.add_post("/", server.handle)
    with serving_in_thread(app) as url:
        yield url, sent


def _send(url: str, *extra: str):
    args = ["task", "send", "--aggregator", url, "--private-key", PERFORMER_KEY, "--proof-of-task", "p"]
    return CliRunner().invoke(cli, [*args, "--data-text", "d", *extra], env={"OTHENTIC_DEPLOYMENT": None})


def _signed_for(sent: list, center: str, chain_id: int) -> bool:
    proof, data, definition, performer, signature = sent[-1]
    task = TaskInfo(proof, bytes.fromhex(data[2:]), performer, definition)
    return recover_task_signer(task.performer_hash(center, chain_id), bytes.fromhex(signature[2:])) == performer


def test_task_send_binds_the_signature_to_the_center_and_chain_the_aggregator_serves(aggregator_url):
    url, sent = aggregator_url
    result = _send(url)
    assert result.exit_code == 0, result.output
    assert sent[-1][3] == Account.from_key(PERFORMER_KEY).address
    assert _signed_for(sent, SERVED_CENTER, SERVED_CHAIN)


def test_task_send_binds_the_signature_to_the_deployment_file(aggregator_url, tmp_path):
    url, sent = aggregator_url
    path = DeploymentRecord(
        chain_id=SERVED_CHAIN, contracts={"AttestationCenter": SERVED_CENTER}, deployer="", block_number=0
    ).save(tmp_path / "deployment.json")
    result = _send(url, "--deployment", str(path))
    assert result.exit_code == 0, result.output
    assert _signed_for(sent, SERVED_CENTER, SERVED_CHAIN)


@pytest.mark.parametrize(
    "center, chain_id", [("0x" + "42" * 20, SERVED_CHAIN), (SERVED_CENTER, 1)], ids=["another center", "another chain"]
)
def test_task_send_signs_nothing_when_the_aggregator_serves_another_center_or_chain(aggregator_url, center, chain_id):
    url, sent = aggregator_url
    before = len(sent)
    result = _send(url, "--attestation-center", center, "--chain-id", str(chain_id))
    assert result.exit_code == 1
    assert f"serves the attestation center {SERVED_CENTER} on chain {SERVED_CHAIN}" in result.output
    assert "nothing was signed" in result.output and len(sent) == before


def test_task_send_wants_the_center_and_the_chain_together(aggregator_url):
    url, sent = aggregator_url
    result = _send(url, "--chain-id", "1")
    assert result.exit_code == 2 and "--attestation-center and --chain-id together" in result.output
