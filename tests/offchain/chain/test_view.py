"""othentic_offchain.chain.view: what the cached view derives from the ABI, and shared reads."""

from __future__ import annotations

import asyncio

import pytest
from eth_utils import keccak

from othentic_offchain.chain.view import SharedReads, _error_in, _harmless_topics, _schedule_topics


def test_events_that_do_not_change_the_cache_are_the_task_claim_and_aggregator_events():
    args = "(uint64,uint16,bytes32,address,address,string,bytes,uint32[],uint256,uint256)"
    assert _harmless_topics() == {
        keccak(text="TaskSubmitted" + args),
        keccak(text="TaskRejected" + args),
        keccak(text="RewardsClaimed(address,address,uint256)"),
        keccak(text="AggregatorRewardForfeited(bytes32,address,uint256)"),
        keccak(text="AggregatorOptedIn(uint32,address,uint256,string)"),
        keccak(text="AggregatorOptedOut(uint32,address,uint256)"),
        keccak(text="AggregatorEndpointUpdated(uint32,string)"),
        keccak(text="AggregatorConfigUpdated(uint16,uint32,uint32)"),
    }


def test_the_aggregator_events_and_only_they_make_the_view_read_the_schedule_again():
    assert _schedule_topics() == {
        keccak(text="AggregatorOptedIn(uint32,address,uint256,string)"),
        keccak(text="AggregatorOptedOut(uint32,address,uint256)"),
        keccak(text="AggregatorEndpointUpdated(uint32,string)"),
        keccak(text="AggregatorConfigUpdated(uint16,uint32,uint32)"),
    }


def test_unknown_definition_is_recognised_by_its_selector():
    class Reverted(Exception):
        data = "0x" + keccak(text="UnknownTaskDefinition(uint16)")[:4].hex() + "00" * 32

    assert _error_in(Reverted("execution reverted"), "UnknownTaskDefinition")
    assert not _error_in(Exception("execution reverted: 0x12345678"), "UnknownTaskDefinition")


def test_shared_reads_run_once_for_concurrent_callers_and_not_afterwards():
    calls = []

    async def read(value):
        calls.append(value)
        await asyncio.sleep(0.01)
        return value

    async def scenario():
        reads = SharedReads()
        first = await asyncio.gather(*(reads.get("k", lambda: read(1)) for _ in range(5)))
        other = await reads.get("other", lambda: read(2))
        again = await reads.get("k", lambda: read(3))
        return first, other, again, reads._reads

    first, other, again, left = asyncio.run(scenario())
    assert first == [1] * 5 and other == 2 and again == 3
    assert calls == [1, 2, 3] and left == {}


def test_shared_reads_pass_the_error_to_every_caller():
    async def failing():
        await asyncio.sleep(0.01)
        raise LookupError("gone")

    async def scenario():
        reads = SharedReads()
        return await asyncio.gather(*(reads.get("k", failing) for _ in range(3)), return_exceptions=True)

    results = asyncio.run(scenario())
    assert all(isinstance(r, LookupError) for r in results)
    with pytest.raises(LookupError):
        asyncio.run(SharedReads().get("k", failing))
