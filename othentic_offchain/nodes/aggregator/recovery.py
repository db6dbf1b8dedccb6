"""Restarting: finish what a previous run of the aggregator signed, before anything new is signed.

A task found ``submitting`` has a transaction that may be on-chain. At start, before the sender
signs anything, :meth:`Recovery.resend_stored` looks every such transaction up (and the ones it
replaced on its nonce): on-chain (landed or reverted), superseded (its nonce is mined by another),
or unknown to the chain. The unknown ones
are sent again byte for byte, in nonce order (of a task's transactions on its nonce, the one
offering the highest fees that the node takes: a replacement the node refused is not the only
choice), and the sender adopts them (it offers them again, never fills their nonce), and a nonce nobody holds between them (signed, never
stored) is filled with an empty transfer, so the ones after it can be mined. A task is therefore
never sent in two different transactions because of a crash. When the task's worker then starts,
:meth:`Recovery.finish_stored` settles it from its stored transaction, or sends it back to
collecting.
"""

from __future__ import annotations

import logging

from othentic_offchain.chain.fees import decode_transaction
from othentic_offchain.chain.receipts import receipt_or_none
from othentic_offchain.chain.sender import AsyncTxSender, SignedTx
from othentic_offchain.chain.view import ChainView
from othentic_offchain.nodes.aggregator.outcomes import TaskOutcomes
from othentic_offchain.nodes.aggregator.rows import TaskRow, TaskStatus
from othentic_offchain.nodes.aggregator.store import TasksDB
from othentic_offchain.nodes.aggregator.submit import Submitter
from othentic_offchain.nodes.aggregator.work import Retry, TaskWork, hex_or_none
from othentic_offchain.nodes.common.observability import TaskLog


class Recovery:
    """The restart path of :class:`~othentic_offchain.nodes.aggregator.node.AggregatorNode`."""

    def __init__(
        self,
        db: TasksDB,
        chain: ChainView,
        sender: AsyncTxSender,
        submitter: Submitter,
        outcomes: TaskOutcomes,
        log: TaskLog,
    ):
        self.db = db
        self.chain = chain
        self.sender = sender
        self.submitter = submitter
        self.outcomes = outcomes
        self.log = log

    async def resend_stored(self) -> None:
        """Before any new transaction: settle or re-send what a previous run signed."""
        db = self.db
        rows = [r for r in await db.open_tasks() if r.status is TaskStatus.SUBMITTING]
        if not rows:
            return
        w3 = self.sender.w3
        mined_nonce = int(await w3.eth.get_transaction_count(self.sender.address, "latest"))
        resend: list[tuple[TaskRow, list[tuple[bytes, bytes]]]] = []
        for row in sorted(rows, key=lambda r: (r.tx_nonce is None, r.tx_nonce or 0)):
            number, _block, _approved = await self.chain.task_record(row.task_hash)
            if number != 0:
                continue  # the worker marks it landed
            if row.tx_hash is None or row.raw_tx is None or row.tx_nonce is None:
                db.set_collecting(row.task_hash)
                continue
            if row.tx_nonce < mined_nonce:
                continue  # mined (ours, reverted or not, or another): the worker settles it
            kept = await db.transactions(row.task_hash, row.tx_nonce) or [(row.tx_hash, row.raw_tx)]
            if any([await receipt_or_none(w3, h) is not None for h, _raw in kept]):
                continue
            resend.append((row, sorted(kept, key=lambda k: _offer(k[1]), reverse=True)))
        next_nonce = mined_nonce
        for row, candidates in resend:
            assert row.tx_nonce is not None
            if row.tx_nonce < next_nonce:  # two stored transactions share a nonce: keep the first
                db.set_collecting(row.task_hash)
                continue
            while next_nonce < row.tx_nonce:
                await self.submitter.burn_nonce(next_nonce)
                next_nonce += 1
            sent = await self._send_one(row, candidates)
            if sent is None:
                db.set_collecting(row.task_hash)
                continue
            self.sender.adopt(sent)
            if sent.tx_hash != row.tx_hash:  # the task's transaction is the one that went out
                await db.record_replacement(row.task_hash, tx_hash=sent.tx_hash, raw_tx=sent.raw, nonce=sent.nonce)
            next_nonce = row.tx_nonce + 1
        await db.counts()  # a read behind the writes above: they are committed

    async def _send_one(self, row: TaskRow, candidates: list[tuple[bytes, bytes]]) -> SignedTx | None:
        """Send the first of the task's stored transactions (highest fees first) the node takes;
        None when it takes none."""
        assert row.tx_nonce is not None
        for tx_hash, raw in candidates:
            try:
                await self.sender.send_raw(raw)
            except Exception as exc:
                self.log.step(
                    "task.resend_failed", row.task_hash, level=logging.WARNING, tx=hex_or_none(tx_hash), error=str(exc)
                )
                continue
            self.log.step("task.resent", row.task_hash, tx=hex_or_none(tx_hash), nonce=row.tx_nonce)
            return SignedTx(tx_hash, raw, row.tx_nonce)
        return None

    async def finish_stored(self, work: TaskWork, row: TaskRow) -> bool:
        """A task found ``submitting`` when its worker starts: True when its stored transaction
        settled it (landed), False when it must collect and submit again."""
        if await self.outcomes.landed_on_chain(work):
            return True
        if row.tx_hash is None or row.tx_nonce is None:
            return False
        try:
            await self.submitter.settle(work, row.tx_hash, row.tx_nonce, row.raw_tx)
            return True
        except Retry as retry:
            self.log.step("task.resubmit", work.task_hash, reason=retry.reason, message=retry.message)
            return False


def _offer(raw: bytes) -> int:
    """What a stored transaction offers per gas (its fee cap, or its legacy price)."""
    try:
        tx = decode_transaction(raw)
    except Exception:
        return -1
    return int(tx.get("maxFeePerGas") or tx.get("gasPrice") or 0)
