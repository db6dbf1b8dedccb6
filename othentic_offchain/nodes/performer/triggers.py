"""What starts a performer's task besides a call: a timer, new blocks, contract events.

Each trigger is a loop the node runs as an asyncio task; it calls ``fire(params, trigger, block)``
for every task it starts and waits for it, so a trigger never overlaps with itself:

* :func:`every_seconds`: a fixed-rate timer; a tick missed while a task ran is skipped, not queued;
* :func:`every_blocks`: polls the block number; fires for block numbers divisible by N (the newest
  such block when several passed between two polls), so every performer fires at the same blocks;
* :func:`on_events`: polls ``eth_getLogs`` for one contract address and event topic
  (:class:`EventTrigger`); one task per log, with :func:`log_params` in the params.

Both chain triggers see only confirmed blocks: with ``confirmations`` N, a block counts once N
more blocks are on top of it (``latest - N``), so an event a reorganisation removes within N
blocks never starts a task. 0 suits a devnet (blocks are final at once); on a real chain use more
(a few blocks on an L2, 2 or more on Ethereum; the ``finalized`` depth for certainty).

A failing RPC read is logged (``chain_unavailable``) and retried at the next poll: the loops only
end when cancelled. On-demand and custom-message tasks are started by the node's HTTP API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils import event_signature_to_log_topic, to_checksum_address

from othentic_offchain.avs.models import to_hex
from othentic_offchain.nodes.common.observability import TaskLog

__all__ = ["MAX_MESSAGE_TASKS", "EventTrigger", "Fire", "every_blocks", "every_seconds", "log_params", "on_events"]

#: Custom messages start tasks in the background; past this many in flight they are refused (429).
MAX_MESSAGE_TASKS = 64

#: Runs one task for a trigger: ``fire(params, trigger kind, block to elect for or None)``.
Fire = Callable[[dict[str, Any], str, int | None], Awaitable[None]]


@dataclass(frozen=True)
class EventTrigger:
    """Perform on every log of ``topic`` (an event signature's topic 0) emitted by ``address``."""

    address: str
    topic: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", to_checksum_address(self.address))
        topic = self.topic
        if isinstance(topic, str):
            topic = bytes.fromhex(topic.removeprefix("0x"))
        if len(topic) != 32:
            raise ValueError(f"an event topic is 32 bytes (keccak of the event signature), got {len(topic)}")
        object.__setattr__(self, "topic", bytes(topic))

    @classmethod
    def from_signature(cls, address: str, signature: str) -> EventTrigger:
        """From the canonical signature, e.g. ``"Transfer(address,address,uint256)"`` (spaces are ignored)."""
        return cls(address, event_signature_to_log_topic(signature))


async def every_seconds(interval: float, fire: Fire, log: TaskLog) -> None:
    loop = asyncio.get_running_loop()
    next_at = loop.time() + interval
    while True:
        await asyncio.sleep(max(0.0, next_at - loop.time()))
        await fire({"trigger": "seconds"}, "seconds", None)
        next_at += interval
        if next_at < loop.time():  # a task outran the period: skip the missed ticks
            missed = int((loop.time() - next_at) // interval) + 1
            next_at += missed * interval
            log.step("trigger.skipped", trigger="seconds", ticks=missed)


async def every_blocks(
    w3: Any, every: int, last: int, poll_interval: float, fire: Fire, log: TaskLog, confirmations: int = 0
) -> None:
    """Fire for the newest confirmed block number divisible by ``every`` above ``last`` (the block
    seen at start)."""
    while True:
        await asyncio.sleep(poll_interval)
        try:
            latest = int(await w3.eth.block_number) - confirmations
        except Exception as exc:
            log.failure("chain_unavailable", trigger="blocks", error=f"{type(exc).__name__}: {exc}")
            continue
        if latest <= last:
            continue
        target = latest - latest % every
        if target > last:
            await fire({"trigger": "blocks", "blockNumber": target}, "blocks", target)
        last = latest


async def on_events(
    w3: Any,
    event: EventTrigger,
    start_block: int,
    poll_interval: float,
    fire: Fire,
    log: TaskLog,
    confirmations: int = 0,
) -> None:
    """Fire once per matching log in the confirmed blocks after ``start_block``, in chain order."""
    next_block = start_block + 1
    while True:
        await asyncio.sleep(poll_interval)
        try:
            latest = int(await w3.eth.block_number) - confirmations
            if latest < next_block:
                continue
            entries = await w3.eth.get_logs(
                {
                    "address": event.address,
                    "topics": [to_hex(event.topic)],
                    "fromBlock": next_block,
                    "toBlock": latest,
                }
            )
        except Exception as exc:
            log.failure("chain_unavailable", trigger="event", error=f"{type(exc).__name__}: {exc}")
            continue
        next_block = latest + 1
        for entry in entries:
            await fire({"trigger": "event", **log_params(entry)}, "event", int(entry["blockNumber"]))


def log_params(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What an event task's params say about its log (hex strings, checksummed address)."""
    return {
        "blockNumber": int(entry["blockNumber"]),
        "blockHash": to_hex(bytes(entry["blockHash"])),
        "transactionHash": to_hex(bytes(entry["transactionHash"])),
        "logIndex": int(entry["logIndex"]),
        "address": to_checksum_address(entry["address"]),
        "topics": [to_hex(bytes(t)) for t in entry["topics"]],
        "data": to_hex(bytes(entry["data"])),
    }
