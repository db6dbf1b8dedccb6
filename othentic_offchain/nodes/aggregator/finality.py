"""Finality: a landed task is re-checked until its landing block is deep enough, and a
reorganisation that removes it sends it back to be landed again.

A task is ``landed`` when a transaction carrying it is mined, and *final* when ``depth`` blocks
were built on top of its landing block (``finality`` = N), or when the chain's ``finalized`` block
reached it (``finality = "finalized"``). With depth 0 (the devnet) a landing is final at once and
nothing here runs for it.

Until then, every ``interval`` seconds the watcher compares each waiting task's landing block hash
(from its receipt) with the chain's block at that height (one header read per distinct block,
whatever the number of tasks). A different hash, or a height above the head, means a
reorganisation touched it; the center's ``taskRecord`` then says where the task is now (it is also
asked for a landing known only from ``taskRecord``, whose block hash was never seen):

* recorded in another block (the new branch included it too): the row follows it, and its depth
  counts from there;
* not recorded: the task is open again. It goes back to ``submitting`` on the transaction that had
  landed (our own: the node sends it again at once, in nonce order, and the task's worker settles
  it like any submission: rebroadcast, replacement, or another transaction's landing), or to
  ``accepted`` when someone else's transaction had landed it (its votes are asked for again).

Nonces of ours that the reorganisation emptied and that carried no task (a filled gap) are filled
again by the sender's gap filling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from othentic_offchain.chain.sender import SignedTx
from othentic_offchain.nodes.aggregator.rows import TaskRow, TaskStatus
from othentic_offchain.nodes.aggregator.work import hex_or_none

if TYPE_CHECKING:
    from othentic_offchain.nodes.aggregator.node import AggregatorNode

#: Landed tasks looked at per round (the lowest landing blocks first).
BATCH = 1000

FINALIZED = "finalized"


def parse_finality(value: int | str) -> int | str:
    """``finality`` as given on the command line: a number of blocks (0 or more) or ``finalized``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == FINALIZED:
            return FINALIZED
        if not text.isdigit():
            raise ValueError(f"finality must be a number of blocks (0 or more) or {FINALIZED!r}, got {value!r}")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"finality must be a number of blocks (0 or more) or {FINALIZED!r}, got {value!r}")
    return value


class FinalityWatcher:
    """Re-checks the aggregator's landed, not yet final tasks until they are final."""

    def __init__(self, node: AggregatorNode, finality: int | str, interval: float):
        self.node = node
        self.finality = parse_finality(finality)
        self.interval = interval
        self._task: asyncio.Task | None = None

    @property
    def at_once(self) -> bool:
        """Depth 0: every landing is final when it is stored."""
        return self.finality == 0

    def start(self) -> None:
        if self.at_once or self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name="finality")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        log = self.node.log
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the RPC failed: nothing is decided on a guess, look again later
                log.step("finality.check_failed", level=logging.WARNING, error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.interval)

    async def check(self) -> tuple[int, int]:
        """One round: returns (tasks made final, tasks reopened by a reorganisation)."""
        node = self.node
        db = node.require_db()
        rows = await db.unfinal(BATCH)
        if not rows:
            return 0, 0
        eth = node.w3.eth
        head = int(await eth.block_number)
        if self.finality == FINALIZED:
            final_up_to = int((await eth.get_block(FINALIZED))["number"])
        else:
            final_up_to = head - int(self.finality)
        heights = sorted({r.landed_block for r in rows if r.landed_block is not None and r.landed_block <= head})
        headers = await asyncio.gather(*(_block_hash(eth, h) for h in heights))
        canonical = dict(zip(heights, headers))
        made_final = 0
        gone: list[TaskRow] = []
        for row in rows:
            block, block_hash = row.landed_block, row.landed_block_hash
            seen = canonical.get(block) if block is not None else None
            # A landing known by its block number only (read from taskRecord, not a receipt) is
            # looked up again too: the block at that height may be another branch's already.
            if block is None or seen is None or block_hash is None or seen != block_hash:
                moved = await self._relocate(row)
                if moved is None:
                    gone.append(row)
                    continue
                block, block_hash = moved
            if block <= final_up_to and await db.mark_final(row.task_hash, block=block, block_hash=block_hash):
                made_final += 1
                node.counters.outcomes.labels(outcome="final").inc()
                node.log.step("task.final", row.task_hash, block=block, head=head, task_number=row.task_number)
        if gone:
            await self._reopen(gone)
        return made_final, len(gone)

    async def _relocate(self, row: TaskRow) -> tuple[int, bytes | None] | None:
        """Where the task is on-chain now: (block, its hash), or None when it is not recorded."""
        node = self.node
        number, block, _approved = await node.require_chain().task_record(row.task_hash)
        if number == 0:
            return None
        block_hash = await _block_hash(node.w3.eth, block)
        node.require_db().move_landing(row.task_hash, task_number=number, block=block, block_hash=block_hash)
        if block != row.landed_block:
            node.log.step("task.moved", row.task_hash, level=logging.WARNING, block=block, previous=row.landed_block)
        return block, block_hash

    async def _reopen(self, rows: list[TaskRow]) -> None:
        """Tasks a reorganisation removed: open again; ours sent again in nonce order."""
        node = self.node
        db = node.require_db()
        sender = node.sender
        resend: list[SignedTx] = []
        for row in sorted(rows, key=lambda r: (r.tx_nonce is None, r.tx_nonce or 0)):
            status = await db.reopen_reorganised(row.task_hash)
            if status is None:
                continue
            node.counters.outcomes.labels(outcome="reorganised").inc()
            node.log.step(
                "task.reorganised",
                row.task_hash,
                level=logging.WARNING,
                block=row.landed_block,
                status=status.value,
                tx=hex_or_none(row.tx_hash),
            )
            if status is TaskStatus.SUBMITTING and row.tx_hash and row.raw_tx and row.tx_nonce is not None:
                resend.append(SignedTx(row.tx_hash, row.raw_tx, row.tx_nonce))
        if sender is not None:
            for signed in resend:
                sender.adopt(signed)  # what its nonce carries: gap filling offers it, never an empty transfer
                try:
                    await sender.send_raw(signed.raw)
                except Exception as exc:  # the task's worker sends it again or replaces it
                    node.log.step("tx.rebroadcast_failed", level=logging.WARNING, error=str(exc))
            with contextlib.suppress(Exception):
                await sender.fill_gaps()
        for row in rows:
            node.spawn(row.task_hash)


async def _block_hash(eth: Any, number: int) -> bytes | None:
    """The hash of the chain's block ``number`` now (None when there is none)."""
    try:
        block = await eth.get_block(number)
    except Exception as exc:
        if "not found" in str(exc).lower() or type(exc).__name__ == "BlockNotFound":
            return None
        raise
    return None if block is None else bytes(block["hash"])
