"""othentic_offchain.chain.rpc: fail-over between RPC endpoints, retries to a deadline, chain checks.

A real anvil behind :class:`RpcRelay`, which refuses, hangs, drops or rate-limits on command; the
other endpoint is anvil itself (or a second relay, to count what reached it)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from othentic_offchain.chain.rpc import (
    FailoverPolicy,
    RpcConnection,
    RpcUnavailable,
    rpc_deadline,
    split_rpc_urls,
    sync_web3,
)
from othentic_offchain.devnet.anvil import Anvil
from othentic_offchain.nodes.common.redact import redact_url
from othentic_offchain.devnet.rpc_relay import RpcRelay

SECRET = "/v3/0123456789abcdef-secret-key"


@pytest.fixture(scope="module")
def anvil():
    with Anvil() as node:
        yield node


@pytest.fixture
def relay(anvil):
    with RpcRelay(anvil.rpc_url, path=SECRET) as r:
        yield r


@pytest.fixture
def relay2(anvil):
    with RpcRelay(anvil.rpc_url) as r:
        yield r


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def connect(urls: str, **kwargs: Any) -> RpcConnection:
    return RpcConnection(urls, **kwargs)


async def block_number(connection: RpcConnection, expect_chain_id: int | None = None) -> int:
    w3 = await connection.open(expect_chain_id)
    try:
        return int(await w3.eth.block_number)
    finally:
        await connection.close()


def test_urls_split_on_commas_in_order_without_blanks_or_repeats():
    assert split_rpc_urls("http://a, http://b,,http://a") == ["http://a", "http://b"]
    assert split_rpc_urls(["http://a,http://b", "http://c"]) == ["http://a", "http://b", "http://c"]
    with pytest.raises(ValueError, match="no RPC URL"):
        split_rpc_urls(" , ")


def test_backoff_grows_exponentially_with_jitter_up_to_a_ceiling():
    policy = FailoverPolicy(["http://a"], backoff=0.2, max_backoff=3.0)
    for round_, ceiling in enumerate([0.2, 0.4, 0.8, 1.6, 3.0, 3.0]):
        pauses = {policy.pause(round_) for _ in range(20)}
        assert all(ceiling / 2 <= p <= ceiling for p in pauses) and len(pauses) > 1


@pytest.mark.parametrize("fault", ["refuse", "limit", "drop"])
def test_a_failing_first_endpoint_fails_over_to_the_next_and_the_call_succeeds(anvil, relay, fault):
    getattr(relay, fault)()
    registry = CollectorRegistry()
    connection = connect(f"{relay.url},{anvil.rpc_url}", registry=registry)

    async def scenario() -> tuple[int, int]:
        w3 = await connection.open(expect_chain_id=anvil.chain_id)
        try:
            first = int(await w3.eth.block_number)
            seen = sum(relay.counts.values())
            await w3.eth.block_number  # the second endpoint is now the active one
            assert sum(relay.counts.values()) == seen
            return first, seen
        finally:
            await connection.close()

    number, _ = asyncio.run(scenario())
    assert number >= 0
    label = redact_url(relay.url)
    kind = {"refuse": "http_5xx", "limit": "limited", "drop": "dropped"}[fault]
    assert sample(registry, "othentic_rpc_errors_total", endpoint=label, kind=kind) >= 1
    assert sample(registry, "othentic_rpc_failovers_total", endpoint=label) == 1


def test_a_hanging_endpoint_times_out_per_attempt_and_fails_over(anvil, relay):
    relay.hang()
    connection = connect(f"{relay.url},{anvil.rpc_url}", attempt_timeout=0.5)
    started = time.monotonic()
    assert asyncio.run(block_number(connection)) >= 0
    assert time.monotonic() - started < 5
    assert relay.counts["hung"] == 1


def test_a_slow_endpoint_still_answers_within_the_attempt_timeout(anvil, relay):
    relay.slow(0.5)
    assert asyncio.run(block_number(connect(relay.url, attempt_timeout=2))) >= 0
    assert relay.counts["forwarded"] == 1


def test_a_call_outlives_an_outage_of_its_only_endpoint_within_the_deadline(anvil, relay):
    """The issue's "RPC refusing for 10 s", shortened: the call is refused a few times, the relay
    recovers once it has seen them, and the call returns the chain's answer."""
    relay.refuse()
    result: dict[str, Any] = {}

    def call() -> None:
        started = time.monotonic()
        w3 = sync_web3(relay.url, timeout=20)
        result["block"] = int(w3.eth.block_number)
        result["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=call)
    worker.start()
    relay.wait_for("refused", 3)
    relay.pass_through()
    worker.join(20)
    assert result["block"] >= 0 and result["seconds"] < 20
    assert relay.counts["forwarded"] >= 1


def test_after_the_deadline_the_error_names_each_endpoint_without_its_secret(anvil, relay):
    relay.refuse()
    down = "http://127.0.0.1:9/v3/another-secret-key"
    connection = connect(f"{relay.url},{down}", timeout=1.0)

    async def scenario() -> None:
        w3 = await connection.open()
        try:
            await w3.eth.block_number
        finally:
            await connection.close()

    started = time.monotonic()
    with pytest.raises(RpcUnavailable) as caught:
        asyncio.run(scenario())
    assert 0.9 < time.monotonic() - started < 5
    message = str(caught.value)
    assert isinstance(caught.value, ConnectionError)
    assert "eth_blockNumber got no answer within 1 s" in message
    assert f"{redact_url(relay.url)}: HTTP 503" in message and "http://127.0.0.1:9: cannot connect" in message
    assert "secret" not in message and relay.counts["refused"] >= 2


def test_rpc_deadline_shortens_the_calls_made_inside_it(relay):
    relay.refuse()
    w3 = sync_web3(relay.url, timeout=30)
    started = time.monotonic()
    with rpc_deadline(0.5), pytest.raises(RpcUnavailable, match="within 0.5 s"):
        w3.eth.get_block_number()
    assert time.monotonic() - started < 3


def test_a_call_that_may_have_run_is_not_sent_twice_unless_it_is_a_read(anvil, relay, relay2):
    """eth_sendTransaction picks its own nonce: a timed-out one may have been executed."""
    relay.hang()
    connection = connect(f"{relay.url},{relay2.url}", attempt_timeout=0.5)

    async def scenario() -> None:
        w3 = await connection.open()
        try:
            await w3.provider.make_request("eth_sendTransaction", [{"from": "0x" + "11" * 20}])
        finally:
            await connection.close()

    with pytest.raises(RpcUnavailable, match="eth_sendTransaction failed and is not sent twice"):
        asyncio.run(scenario())
    assert relay.methods["eth_sendTransaction"] == 1 and relay2.methods["eth_sendTransaction"] == 0


def test_a_refused_call_is_sent_to_the_next_endpoint_whatever_it_is(anvil, relay, relay2):
    """HTTP 429 means the request was not run: even a non-read goes to the next endpoint."""
    relay.refuse(429)
    connection = connect(f"{relay.url},{relay2.url}")

    async def scenario() -> Any:
        w3 = await connection.open()
        try:
            return await w3.provider.make_request("evm_mine", [])
        finally:
            await connection.close()

    assert asyncio.run(scenario())["result"] == "0x0"
    assert relay.methods["evm_mine"] == 1 and relay2.methods["evm_mine"] == 1


def test_an_endpoint_serving_another_chain_is_refused_at_open(anvil, relay):
    relay.serve_chain_id(1)
    with pytest.raises(ValueError, match=rf"{redact_url(relay.url)} serves chain 1, but the deployment is on chain"):
        asyncio.run(block_number(connect(f"{anvil.rpc_url},{relay.url}"), expect_chain_id=anvil.chain_id))
    with pytest.raises(ValueError, match="serves chain 1"):
        sync_web3(f"{anvil.rpc_url},{relay.url}", expect_chain_id=anvil.chain_id)


def test_an_endpoint_down_at_open_is_checked_before_its_first_use(anvil, relay):
    """Down at open, it cannot be checked then; once back, serving another chain, it is disabled
    before it serves anything, and the calls go on on the other endpoint."""
    relay.refuse()
    connection = RpcConnection(f"{relay.url},{anvil.rpc_url}")

    async def scenario() -> list[dict[str, Any]]:
        w3 = await connection.open(expect_chain_id=anvil.chain_id)
        try:
            w3.provider.policy.primary_retry_after = 0.0  # the next call tries the first endpoint again
            relay.serve_chain_id(1)
            relay.pass_through()
            await w3.eth.block_number
            return w3.provider.policy.status()
        finally:
            await connection.close()

    status = asyncio.run(scenario())
    assert "serves chain 1" in status[0]["disabled"] and status[1]["verified"] and status[1]["active"]
    assert relay.methods["eth_blockNumber"] == 0


def test_the_first_endpoint_is_tried_again_after_a_while(anvil, relay, relay2):
    relay.refuse()
    w3 = sync_web3(f"{relay.url},{relay2.url}", primary_retry_after=0.0)
    assert w3.eth.get_block_number() >= 0
    assert w3.provider.policy.active == 1
    relay.pass_through()
    before = relay2.methods["eth_blockNumber"]
    assert w3.eth.get_block_number() >= 0
    assert w3.provider.policy.active == 0 and relay2.methods["eth_blockNumber"] == before


def test_the_blocking_provider_fails_over_too(anvil, relay):
    relay.drop()
    registry = CollectorRegistry()
    w3 = sync_web3(f"{relay.url},{anvil.rpc_url}", expect_chain_id=anvil.chain_id, registry=registry)
    assert int(w3.eth.block_number) >= 0
    assert sample(registry, "othentic_rpc_failovers_total", endpoint=redact_url(relay.url)) == 1


def test_a_backup_answering_an_http_error_at_open_is_left_out_and_the_others_serve(anvil, relay):
    relay.refuse(403)  # an expired API key, say
    assert asyncio.run(block_number(connect(f"{anvil.rpc_url},{relay.url}"), expect_chain_id=anvil.chain_id)) >= 0


def test_a_lone_endpoint_answering_an_http_error_at_open_is_refused_naming_it(anvil, relay):
    relay.refuse(403)
    with pytest.raises(ValueError, match=rf"{redact_url(relay.url)} is no usable JSON-RPC endpoint: HTTP 403"):
        asyncio.run(block_number(connect(relay.url), expect_chain_id=anvil.chain_id))


def test_a_lone_endpoint_that_comes_up_serving_another_chain_is_never_used(anvil, relay):
    """Down at open, the connection waits for it; once up on another chain it is disabled and,
    with no endpoint left, opening fails naming why."""
    relay.refuse()
    outcome: dict[str, BaseException] = {}

    def open_it() -> None:
        try:
            asyncio.run(block_number(connect(relay.url), expect_chain_id=anvil.chain_id))
        except BaseException as exc:  # the outcome under test
            outcome["error"] = exc

    worker = threading.Thread(target=open_it)
    worker.start()
    relay.wait_for("refused", 2)
    relay.serve_chain_id(1)
    relay.pass_through()
    worker.join(30)
    error = outcome["error"]
    assert isinstance(error, RpcUnavailable) and "has no usable endpoint" in str(error)
    assert "serves chain 1" in str(error) and relay.methods["eth_blockNumber"] == 0
