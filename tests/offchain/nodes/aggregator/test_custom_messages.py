"""sendCustomMessage fans out to every attester: who may call it (an active operator's signature,
or a trusted address unsigned), its bounds (size, one per request, a rate per caller and overall)
and its chain reads (the cached view, not one read per call: counted through a proxy)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import aiohttp
from aiohttp import web
from eth_account import Account

from othentic_offchain.avs import ServiceRunner
from othentic_offchain.jsonrpc import INVALID_PARAMS, JsonRpcClient, JsonRpcError
from othentic_offchain.nodes.aggregator.config import NOT_AN_OPERATOR, RATE_LIMITED, UNAUTHENTICATED
from othentic_offchain.nodes.aggregator.messages import sign_custom_message
from othentic_offchain.nodes.common.ratelimit import KeyedLimiter, TokenBucket
from tests.offchain.nodes.aggregator.test_node import Net, Services, aggregator, run

UNTRUSTED = ("192.0.2.0/24",)  # a trusted network the tests' loopback client is not in


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


async def _call(url: str, data: str, *params):
    async with JsonRpcClient(url) as client:
        try:
            return await client.call("sendCustomMessage", [data, *params])
        except JsonRpcError as error:
            return error


def signed(net: Net, key: str, data: str, definition: int | None = None, timestamp: int | None = None) -> list:
    """``sendCustomMessage``'s params, signed by ``key``'s account."""
    stamp = int(time.time()) if timestamp is None else timestamp
    raw = bytes.fromhex(data[2:])
    signature = sign_custom_message(key, net.record.chain_id, net.avs.address, raw, definition, stamp)
    return [data, definition, Account.from_key(key).address, "0x" + signature.hex(), stamp]


async def _call_signed(node, net: Net, key: str, data: str, **signing):
    return await _call(node.url, *signed(net, key, data, **signing))


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


def test_an_unsigned_message_from_an_untrusted_address_is_refused_and_reaches_no_attester(net: Net, tmp_path: Path):
    async def scenario(node):
        return await _call(node.url, "0x01")

    answer, messages = run(_with_aggregator(net, tmp_path, scenario, trusted_clients=UNTRUSTED))
    assert isinstance(answer, JsonRpcError) and answer.code == UNAUTHENTICATED
    assert "127.0.0.1" in str(answer) and "signer, signature, timestamp" in str(answer)
    assert messages == {}


def test_a_message_signed_by_an_active_operator_reaches_every_attester(net: Net, tmp_path: Path):
    async def scenario(node):
        return await _call_signed(node, net, net.keys[4], "0xc0ffee", definition=7)

    answer, messages = run(_with_aggregator(net, tmp_path, scenario, trusted_clients=UNTRUSTED))
    assert answer == len(net.ids)
    assert sorted(messages) == sorted(net.ids) and all(m == [{"data": "0xc0ffee"}] for m in messages.values())


def test_a_message_signed_by_an_account_that_is_not_an_operator_is_refused(net: Net, tmp_path: Path):
    stranger = Account.create("custom message stranger")

    async def scenario(node):
        return await _call_signed(node, net, "0x" + bytes(stranger.key).hex(), "0x01")

    answer, messages = run(_with_aggregator(net, tmp_path, scenario, trusted_clients=UNTRUSTED))
    assert isinstance(answer, JsonRpcError) and answer.code == NOT_AN_OPERATOR
    assert stranger.address in str(answer)
    assert messages == {}


def test_a_message_with_a_stale_timestamp_is_refused(net: Net, tmp_path: Path):
    async def scenario(node):
        return await _call_signed(node, net, net.keys[4], "0x01", timestamp=int(time.time()) - 600)

    answer, messages = run(_with_aggregator(net, tmp_path, scenario))
    assert isinstance(answer, JsonRpcError) and answer.code == UNAUTHENTICATED
    assert "the limit is 60 s" in str(answer)
    assert messages == {}


def test_a_signature_over_other_data_or_definition_is_refused(net: Net, tmp_path: Path):
    async def scenario(node):
        other_data = signed(net, net.keys[4], "0x01")
        other_data[0] = "0x02"
        other_definition = signed(net, net.keys[4], "0x01", definition=1)
        other_definition[1] = 2
        half_signed = ["0x01", None, Account.from_key(net.keys[4]).address]
        return [await _call(node.url, *params) for params in (other_data, other_definition, half_signed)]

    answers, messages = run(_with_aggregator(net, tmp_path, scenario, trusted_clients=UNTRUSTED))
    assert all(isinstance(a, JsonRpcError) and a.code == UNAUTHENTICATED for a in answers), answers
    assert "recovers to" in str(answers[0]) and "recovers to" in str(answers[1])
    assert "not signed" in str(answers[2])
    assert messages == {}


def test_signed_messages_beyond_a_signers_rate_are_refused(net: Net, tmp_path: Path):
    async def scenario(node):
        first = [await _call_signed(node, net, net.keys[4], "0x01") for _ in range(3)]
        other = await _call_signed(node, net, net.keys[5], "0x01")
        return first, other

    (first, other), messages = run(
        _with_aggregator(
            net,
            tmp_path,
            scenario,
            trusted_clients=UNTRUSTED,
            message_rate_per_client=0.001,
            message_burst_per_client=2,
        )
    )
    assert first[:2] == [len(net.ids)] * 2
    assert isinstance(first[2], JsonRpcError) and first[2].code == RATE_LIMITED
    assert other == len(net.ids)  # another signer has its own bucket
    assert all(len(m) == 3 for m in messages.values())


class CountingRpc:
    """A JSON-RPC proxy in front of anvil that counts the calls passing through, by method."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.calls: Counter[str] = Counter()
        app = web.Application()
        app.router.add_post("/", self.forward)
        self.runner = ServiceRunner(app)
        self.url = ""

    async def forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        payload = json.loads(body)
        for call in payload if isinstance(payload, list) else [payload]:
            self.calls[call.get("method", "?")] += 1
        async with aiohttp.ClientSession() as session:
            async with session.post(self.upstream, data=body, headers={"Content-Type": "application/json"}) as answer:
                return web.Response(body=await answer.read(), content_type="application/json")

    def total(self) -> int:
        return sum(self.calls.values())


def test_a_batch_of_signed_and_unsigned_messages_costs_no_rpc_call_once_the_view_is_warm(net: Net, tmp_path: Path):
    """The finding: one 808 KB batch of sendCustomMessage caused 102 RPC calls. Now a batch runs
    one call (the rest are refused without reading anything) and the signer's status and the
    attesters come from the cached view: a warm aggregator reads nothing from the chain."""
    proxy = CountingRpc(net.rpc_url)

    async def scenario(node):
        await _call_signed(node, net, net.keys[4], "0x01")  # warms the view: operators, attesters
        before = proxy.total()
        batch = [
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "sendCustomMessage",
                "params": signed(net, net.keys[4], "0x" + "ab" * 4000),
            }
            for i in range(100)
        ]
        async with aiohttp.ClientSession() as session:
            async with session.post(node.url, data=json.dumps(batch)) as response:
                answers = await response.json()
        singles = [await _call_signed(node, net, net.keys[5 + i % 3], "0x02") for i in range(3)]
        singles.append(await _call(node.url, "0x03"))  # unsigned, from loopback (trusted)
        return answers, singles, proxy.total() - before

    async def with_proxy():
        proxy.url = await proxy.runner.start()
        try:
            return await _with_aggregator(
                net,
                tmp_path,
                scenario,
                rpc_url=proxy.url,
                chain_refresh_interval=3600.0,
                message_burst_per_client=10,
                max_request_bytes=2 << 20,
            )
        finally:
            await proxy.runner.stop()

    (answers, singles, rpc_calls), messages = run(with_proxy())
    assert len([a for a in answers if "result" in a]) == 1
    assert singles == [len(net.ids)] * 4
    assert rpc_calls == 0, proxy.calls
    assert all(len(m) == 6 for m in messages.values())


def test_a_token_bucket_allows_its_burst_then_its_rate():
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) and not bucket.take(0.5)


def test_the_keyed_limiter_bounds_each_client_and_everyone_together():
    now = [0.0]
    limiter = KeyedLimiter(0.0, 2, 0.0, 3, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(3)] == [None, None, "client"]
    assert limiter.allow("b") is None
    assert limiter.allow("c") == "everyone"
    assert limiter.clients["c"].tokens == 2  # the shared limit did not cost c its own token


def test_the_keyed_limiter_forgets_the_least_recent_client_beyond_its_bound():
    limiter = KeyedLimiter(1.0, 1, 100.0, 100, max_clients=2)
    for client in ("a", "b", "c"):
        limiter.allow(client)
    assert list(limiter.clients) == ["b", "c"]
