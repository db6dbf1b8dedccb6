"""Several aggregators on one AVS: forwarding tasks to each other, and whose turn it is to land one.

Operators opt in as aggregators on-chain with the URL of their node; the list and its turns are
the :class:`~othentic_offchain.chain.schedule.AggregatorSchedule`, read through the cached chain
view (docs/decisions/0015-aggregator-schedule.md for the on-chain part,
docs/decisions/0016-several-aggregators.md for what the nodes do). With nobody listed, nothing
here changes anything: a task is submitted as soon as one side holds its threshold.

* :class:`Forwarder`: a task a client sent (not one another aggregator forwarded, which carries
  the header :data:`FORWARDED_HEADER`) is sent on, with the same parameters, to every other listed
  aggregator's endpoint before the client is answered. Failures are logged and counted
  (``forwards_total``), never fatal.
* :class:`TurnKeeper`: once a side holds its threshold, the node submits at once if it is on turn
  for the task. A backup waits until its own turn starts and the grace of the turn before it has
  passed, looking at the task's
  on-chain record every ``landing_poll_interval`` seconds; a task that landed meanwhile is marked
  landed with no gas spent (``submissions_total{result="backup_skipped"}``). A node that is not
  listed is the last resort: it submits only once every listed aggregator's turn for the task
  has passed, counted from when the task was ready.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

import aiohttp

from othentic_offchain.chain.schedule import AggregatorSchedule
from othentic_offchain.nodes.aggregator.work import TaskWork
from othentic_offchain.nodes.common.protocol import AnswerTooLarge, read_capped

if TYPE_CHECKING:
    from othentic_offchain.nodes.aggregator.node import AggregatorNode

#: The HTTP header that marks a ``sendTask`` one aggregator forwarded to another (never forwarded again).
FORWARDED_HEADER = "X-Othentic-Forwarded"


def my_position(schedule: AggregatorSchedule, account: str) -> int | None:
    """This account's place in the list (0-based), or None when it is not listed."""
    wanted = account.lower()
    return next((i for i, a in enumerate(schedule.aggregators) if a.account.lower() == wanted), None)


def turn_starts(
    schedule: AggregatorSchedule, task_hash: bytes, account: str, now: float, ready: float, margin: float = 0.0
) -> float:
    """The chain time from which ``account`` submits ``task_hash`` (``now`` or earlier: at once).

    On turn: now, unless less than ``margin`` seconds of the turn are left (at most a quarter of a
    turn counts): then its next turn, as a backup. A listed backup: the start of its next turn plus
    the grace. Not listed: after the turn of every listed aggregator, counted from the turn the task
    was ready in (``ready``), and the last one's grace.

    The margin keeps two aggregators from sending the same task at a turn's end: one deciding just
    before the turn ends (its transaction is still paid in the grace) and the next one deciding just
    after, both at once, since sending follows deciding by the time it takes to aggregate, sign and
    broadcast. The next one lands such a task when its turn starts, a margin later at most.

    The grace after a turn belongs to the aggregator of that turn: a transaction it sent late in
    its turn may be mined then (and is paid). So a backup looks at the task once more when the
    grace has passed before it sends anything (its own transaction still lands within its turn,
    since the grace is shorter than a turn); and the aggregator whose turn just ended does not
    start a transaction in its grace: it waits for its next turn like any backup (else it and
    the one on turn would both submit every task ready in the first ``grace_seconds`` of a turn)."""
    turns = schedule.turns(task_hash, int(now))
    wanted = account.lower()
    for index, turn in enumerate(turns):
        if turn.aggregator.account.lower() == wanted:
            if index > 0:
                return float(turn.starts + schedule.grace_seconds)
            if len(turns) > 1 and now > turn.ends - min(margin, schedule.turn_seconds / 4):
                return float(turn.starts + len(turns) * schedule.turn_seconds + schedule.grace_seconds)
            return now
    first = schedule.turns(task_hash, int(ready))[0].starts
    return float(first + len(turns) * schedule.turn_seconds + schedule.grace_seconds)


class TurnKeeper:
    """Decides when a decided task is submitted (see the module)."""

    def __init__(self, node: AggregatorNode):
        self.node = node

    async def wait(self, work: TaskWork) -> bool:
        """Wait until this node may submit ``work``; False when the task landed meanwhile (it is
        then marked landed). Once the node's turn came, later tries of the task do not wait again."""
        if work.turn_reached:
            return True
        node = self.node
        chain = node.require_chain()
        outcomes = node.outcomes
        poll = node.config.landing_poll_interval
        loop = asyncio.get_running_loop()
        ready: float | None = None
        waited_from = loop.time()
        waited = False
        decision = "unscheduled"
        while True:
            try:
                schedule = await chain.schedule()
                if not schedule.active:
                    break
                now = await chain.chain_time()
            except Exception as exc:  # the chain is unreachable: submitting is what finds out
                node.log.step("chain.unavailable", work.task_hash, level=logging.WARNING, error=str(exc))
                decision = "chain_unavailable"
                break
            ready = now if ready is None else ready
            starts = turn_starts(schedule, work.task_hash, node.address, now, ready, node.config.turn_margin)
            position = my_position(schedule, node.address)
            if now >= starts:
                if position is None:
                    decision = "last_resort"
                else:
                    decision = "backup" if waited else "on_turn"
                break
            if not waited:
                node.log.step(
                    "task.waiting_turn",
                    work.task_hash,
                    position=position,
                    starts_in=round(starts - now, 3),
                    aggregators=len(schedule.aggregators),
                )
            if outcomes is not None and await outcomes.landed_on_chain(work):
                node.counters.submissions.labels(result="backup_skipped").inc()
                node.log.step("task.backup_skipped", work.task_hash, waited=round(loop.time() - waited_from, 3))
                return False
            waited = True
            await asyncio.sleep(max(min(poll, starts - now), 0.01))
        work.turn_reached = True
        node.counters.turns.labels(decision=decision).inc()
        if decision != "unscheduled":
            node.log.step("task.turn", work.task_hash, decision=decision, waited=round(loop.time() - waited_from, 3))
        return True


class Forwarder:
    """Sends the tasks clients gave this node on to the other listed aggregators (see the module)."""

    def __init__(self, node: AggregatorNode):
        self.node = node

    async def forward(self, task_hash: bytes, params: list[Any]) -> dict[str, str]:
        """``sendTask(*params)`` to every other listed aggregator; ``{endpoint: result}``."""
        node = self.node
        try:
            schedule = await node.require_chain().schedule()
        except Exception as exc:
            node.log.step("forward.chain_unavailable", task_hash, level=logging.WARNING, error=str(exc))
            node.counters.forwards.labels(result="no_schedule").inc()
            return {}
        me = node.address.lower()
        endpoints = [a.endpoint for a in schedule.aggregators if a.account.lower() != me]
        if not endpoints:
            return {}
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "sendTask", "params": params}).encode()
        results = await asyncio.gather(*(self._send(endpoint, body) for endpoint in endpoints))
        for result in results:
            node.counters.forwards.labels(result=result).inc()
        outcome = dict(zip(endpoints, results))
        level = logging.INFO if all(r == "sent" for r in results) else logging.WARNING
        node.log.step("task.forwarded", task_hash, level=level, to=outcome)
        return outcome

    async def _send(self, endpoint: str, body: bytes) -> str:
        """``sent`` (accepted or known there), ``refused`` (an error answer) or ``failed`` (unreachable)."""
        headers = {"Content-Type": "application/json", FORWARDED_HEADER: "1"}
        timeout = aiohttp.ClientTimeout(total=self.node.config.forward_timeout)
        try:
            async with self.node.http().post(endpoint, data=body, headers=headers, timeout=timeout) as response:
                answer = json.loads(await read_capped(response))
        except (TimeoutError, aiohttp.ClientError, AnswerTooLarge, ValueError, RuntimeError):
            return "failed"
        return "sent" if isinstance(answer, dict) and "result" in answer else "refused"

    async def close(self) -> None:
        """Nothing runs in the background: a forward is awaited by the ``sendTask`` that asked it."""
