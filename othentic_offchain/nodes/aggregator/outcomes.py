"""How a task ends: landed (by our transaction or anyone's) or failed, each stored, counted and logged.

A landing is final at once when the node's finality depth is 0 (``final_at_once``); otherwise the
:class:`~othentic_offchain.nodes.aggregator.finality.FinalityWatcher` makes it final later."""

from __future__ import annotations

import logging
import time

from othentic_offchain.chain.view import ChainView
from othentic_offchain.nodes.aggregator.metrics import AggregatorMetrics
from othentic_offchain.nodes.aggregator.store import TasksDB
from othentic_offchain.nodes.aggregator.work import TaskWork, hex_or_none, side_name
from othentic_offchain.nodes.common.observability import TaskLog


class TaskOutcomes:
    """Records the end of a task in the store, the metrics and the task log."""

    def __init__(
        self, db: TasksDB, chain: ChainView, metrics: AggregatorMetrics, log: TaskLog, *, final_at_once: bool = True
    ):
        self.final_at_once = final_at_once
        self.db = db
        self.chain = chain
        self.metrics = metrics
        self.log = log

    async def failed(
        self,
        work: TaskWork,
        reason: str,
        *,
        approve: int | None = None,
        reject: int | None = None,
        total: int | None = None,
        message: str | None = None,
    ) -> None:
        """The task will not land; ``reason`` is a short code, ``message`` the details."""
        text = reason if message is None else f"{reason}: {message}"
        await self.db.mark_failed(work.task_hash, text, approve_power=approve, reject_power=reject, total_power=total)
        self.metrics.outcomes.labels(outcome="failed").inc()
        self.log.failure(reason, work.task_hash, approve=approve, reject=reject, total=total, message=message)

    async def landed(
        self,
        work: TaskWork,
        number: int,
        side: bool,
        block: int,
        tx_hash: bytes | None,
        *,
        block_hash: bytes | None = None,
    ) -> None:
        """The task is on-chain as task ``number`` in ``block``; ``tx_hash`` when it is our transaction."""
        final = self.final_at_once
        await self.db.mark_landed(
            work.task_hash,
            task_number=number,
            side=side,
            block=block,
            tx_hash=tx_hash,
            block_hash=block_hash,
            final=final,
        )
        metrics = self.metrics
        metrics.outcomes.labels(outcome="landed").inc()
        if final:
            metrics.outcomes.labels(outcome="final").inc()
        metrics.submissions.labels(result="landed").inc()
        metrics.latency.observe(max(time.time() - work.created_at, 0.0))
        self.log.step(
            "task.landed",
            work.task_hash,
            task_number=number,
            side=side_name(side),
            block=block,
            tx=hex_or_none(tx_hash),
        )

    async def landed_on_chain(self, work: TaskWork) -> bool:
        """Look the task up in the center's records; mark it landed if it is there."""
        try:
            number, block, approved = await self.chain.task_record(work.task_hash)
        except Exception as exc:
            self.log.step("chain.unavailable", work.task_hash, level=logging.WARNING, error=str(exc))
            return False
        if number == 0:
            return False
        await self.landed(work, number, approved, block, None)
        return True
