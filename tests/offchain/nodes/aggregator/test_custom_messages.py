"""sendCustomMessage is anonymous and fans out to every attester: its bounds (size, one per request,
a rate per client and overall) and its chain reads (the cached view, not one read per call)."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from othentic_offchain.jsonrpc import INVALID_PARAMS, JsonRpcClient, JsonRpcError
from othentic_offchain.nodes.aggregator.config import RATE_LIMITED
from othentic_offchain.nodes.aggregator.limits import FanOutLimiter, TokenBucket
from tests.offchain.nodes.aggregator.test_node import Net, Services, aggregator, run


async def _with_aggregator(net: Net, tmp_path: Path, scenario, **overrides):
    services = Services()
    services.url = await services.runner.start()
    static = {operator_id: f"{services.url}/op/{operator_id}" for operator_id in net.ids}
    node = aggregator(net, tmp_path, static, **overrides)
    await node.start()
    try:
        return await scenario(node), services.messages
    finally:
        await node.stop()
        await services.runner.stop()


async def _call(url: str, data: str):
    async with JsonRpcClient(url) as client:
        try:
            return await client.call("sendCustomMessage", [data])
        except JsonRpcError as error:
            return error


def test_a_custom_message_over_the_size_limit_is_refused_and_reaches_no_attester(net: Net, tmp_path: Path):
    async def scenario(node):
        return await _call(node.url, "0x" + "00" * 1025)

    answer, messages = run(_with_aggregator(net, tmp_path, scenario, max_message_bytes=1024))
    assert isinstance(answer, JsonRpcError) and answer.code == INVALID_PARAMS
    assert "1025 bytes, the limit is 1024" in str(answer)
    assert messages == {}


def test_a_batch_fans_out_at_most_one_custom_message(net: Net, tmp_path: Path):
    async def scenario(node):
        batch = [{"jsonrpc": "2.0", "id": i, "method": "sendCustomMessage", "params": [f"0x0{i}"]} for i in range(5)]
        async with aiohttp.ClientSession() as session:
            async with session.post(node.url, data=json.dumps(batch)) as response:
                return await response.json()

    answers, messages = run(_with_aggregator(net, tmp_path, scenario, message_burst_per_client=100))
    delivered = [a for a in answers if "result" in a]
    refused = [a for a in answers if "error" in a]
    assert len(delivered) == 1 and delivered[0]["result"] == len(net.ids)
    assert len(refused) == 4 and all(a["error"]["code"] == RATE_LIMITED for a in refused)
    assert sorted(messages) == sorted(net.ids) and all(len(m) == 1 for m in messages.values())


def test_custom_messages_beyond_a_clients_rate_are_refused(net: Net, tmp_path: Path):
    async def scenario(node):
        return [await _call(node.url, "0x01") for _ in range(3)]

    answers, messages = run(
        _with_aggregator(net, tmp_path, scenario, message_rate_per_client=0.001, message_burst_per_client=2)
    )
    assert answers[:2] == [len(net.ids)] * 2
    assert isinstance(answers[2], JsonRpcError) and answers[2].code == RATE_LIMITED
    assert "this client" in str(answers[2])
    assert all(len(m) == 2 for m in messages.values())


def test_custom_messages_read_the_operator_set_from_the_cached_chain_view(net: Net, tmp_path: Path):
    reads = []

    async def scenario(node):
        functions = node.require_chain().center.functions
        original = functions.activeOperatorIds

        def counted(*args):
            reads.append(args)
            return original(*args)

        functions.activeOperatorIds = counted
        return [await _call(node.url, "0x01") for _ in range(4)]

    answers, _messages = run(
        _with_aggregator(net, tmp_path, scenario, chain_refresh_interval=60.0, message_burst_per_client=10)
    )
    assert answers == [len(net.ids)] * 4
    assert len(reads) == 1


def test_a_token_bucket_allows_its_burst_then_its_rate():
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) and not bucket.take(0.5)


def test_the_fan_out_limiter_bounds_each_client_and_everyone_together():
    now = [0.0]
    limiter = FanOutLimiter(0.0, 2, 0.0, 3, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(3)] == [None, None, "client"]
    assert limiter.allow("b") is None
    assert limiter.allow("c") == "everyone"
    assert limiter.clients["c"].tokens == 2  # the shared limit did not cost c its own token


def test_the_fan_out_limiter_forgets_the_least_recent_client_beyond_its_bound():
    limiter = FanOutLimiter(1.0, 1, 100.0, 100, max_clients=2)
    for client in ("a", "b", "c"):
        limiter.allow(client)
    assert list(limiter.clients) == ["b", "c"]
