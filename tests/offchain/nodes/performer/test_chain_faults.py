"""A performer on a chain that is not anvil's ideal one: triggers that wait for confirmations, and
an RPC endpoint that refuses for a while (the performer reads the chain through
:class:`~othentic_offchain.devnet.rpc_relay.RpcRelay`, which counts and fails its calls)."""

# ruff: noqa: F811 - the fixtures of test_node.py, imported, are parameters here

from __future__ import annotations

import threading
from typing import Any

import pytest

from othentic_offchain.nodes.performer import EventTrigger, PerformerConfig, PerformerNode
from othentic_offchain.devnet.rpc_relay import RpcRelay
from tests.offchain.nodes.node_harness import HTTP_TIMEOUT
from tests.offchain.nodes.performer.test_node import (  # noqa: F401 - fixtures
    REGISTERED,
    aggregator,
    alice,
    execution_url,
    wait_until,
)


@pytest.fixture
def relay(devnet):
    with RpcRelay(devnet.anvil.rpc_url) as r:
        yield r


@pytest.fixture
def performer(loop, devnet, execution_url, relay):
    started: list[PerformerNode] = []

    def start(operator: Any, aggregator_url: str, **overrides: Any) -> PerformerNode:
        config = PerformerConfig(
            rpc_url=relay.url,
            deployment=devnet.record,
            ecdsa_key=operator.key,
            execution_url=execution_url,
            aggregator_url=aggregator_url,
            chain_refresh=0.1,
            **overrides,
        )
        node = PerformerNode(config)
        loop.run(node.start())
        started.append(node)
        return node

    yield start
    for node in started:
        loop.run(node.stop())


def test_with_two_confirmations_an_event_is_acted_on_only_two_blocks_later(
    devnet,
    performer,
    relay,
    aggregator,
    alice,
):
    fake = aggregator()
    event = EventTrigger.from_signature(devnet.center, REGISTERED)
    performer(alice, fake.url, event=event, poll_interval=0.05, confirmations=2)
    newcomer = devnet.register()
    for mined in (False, True):  # the event's block the head, then one more on top: not confirmed yet
        if mined:
            devnet.mine(1)
        seen = relay.methods["eth_blockNumber"]
        relay.wait_for_calls("eth_blockNumber", seen + 5)  # the trigger polled the head since
        assert fake.calls == []
    devnet.mine(1)
    wait_until(lambda: len(fake.calls) == 1, what="a task once the event has two blocks on top")
    [sent] = fake.tasks
    assert sent["params"]["blockNumber"] == newcomer.receipt["blockNumber"]


def test_a_negative_confirmation_depth_is_refused(devnet, alice):
    with pytest.raises(ValueError, match="confirmations must be 0 or more"):
        PerformerConfig("http://127.0.0.1:1", devnet.record, alice.key, "http://e", "http://a", confirmations=-1)


def test_an_election_held_while_the_rpc_refuses_is_decided_once_it_is_back(
    loop, devnet, performer, relay, aggregator, alice
):
    """The issue's "RPC refusing for 10 s", shortened: the election's chain reads wait out the
    outage (within their deadline) instead of failing the task."""
    node = performer(alice, aggregator().url, election="round-robin")
    relay.refuse()
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(outcome=loop.run(node.perform())))
    worker.start()
    relay.wait_for("refused", 3)
    relay.pass_through()
    worker.join(HTTP_TIMEOUT)
    outcome = result["outcome"]
    assert outcome.status in ("sent", "not_elected"), outcome.error
    assert outcome.leader is not None and outcome.block is not None
    assert relay.counts["forwarded"] >= 1
