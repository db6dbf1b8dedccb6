"""Whose turn it is to land a task: the Python twin of ``contracts/libraries/AggregatorSchedule.sol``.

Operators opt in as aggregators on-chain; the center keeps them in a list (``activeAggregators``).
Block time is cut into turns of ``turn_seconds``, the same for every task; over the list of ``n``
aggregators, a task starts at position ``taskHash mod n`` at turn 0 and moves one place down the
list each turn::

    position(task_hash, t) = (task_hash mod n + (t // turn_seconds) mod n) mod n

Whoever is on turn when a task is ready is its primary; the next one in the list is its first
backup, whose turn starts ``turn_seconds`` later, and so on round the list. The aggregator reward
of a task goes to the aggregator on turn in the block it lands in, or to the one whose turn ended
less than ``grace_seconds`` before; to nobody else (docs/decisions/0015-aggregator-schedule.md).
With no aggregator opted in, anyone active lands a task and takes the reward, as before.

The list's order is the contract's: an opt-in appends, an opt-out moves the last aggregator into
the gap (:meth:`AggregatorSchedule.opted_in` and :meth:`AggregatorSchedule.opted_out` replay the
events the same way).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

#: The contract's bounds (``Aggregators.sol``).
MAX_AGGREGATORS = 64
MAX_AGGREGATOR_ENDPOINT_LENGTH = 256


def turn_position(task_hash: bytes, timestamp: int, count: int, turn_seconds: int) -> int:
    """The list position (0 to ``count - 1``) on turn for ``task_hash`` at block time ``timestamp``."""
    if count <= 0 or turn_seconds <= 0:
        raise ValueError(f"count and turn_seconds must be positive, got {count} and {turn_seconds}")
    if len(task_hash) != 32:
        raise ValueError(f"a task hash is 32 bytes, got {len(task_hash)}")
    if timestamp < 0:
        raise ValueError(f"timestamp must not be negative, got {timestamp}")
    return (int.from_bytes(task_hash, "big") % count + (timestamp // turn_seconds) % count) % count


@dataclass(frozen=True)
class Aggregator:
    operator_id: int
    account: str
    endpoint: str


@dataclass(frozen=True)
class Turn:
    """One aggregator's turn for a task: it may land the task and earn the reward from ``starts``."""

    aggregator: Aggregator
    starts: int  # block timestamp the turn begins at
    ends: int  # the next turn begins here; the reward stays this one's until ends + grace_seconds


@dataclass(frozen=True)
class AggregatorSchedule:
    """The aggregator list in the contract's order and its turn settings, as read from the chain."""

    aggregators: tuple[Aggregator, ...]
    turn_seconds: int
    grace_seconds: int = 0
    max_aggregators: int = 0

    @property
    def active(self) -> bool:
        """Whether the schedule decides the aggregator reward (someone has opted in)."""
        return bool(self.aggregators)

    def on_turn(self, task_hash: bytes, timestamp: int) -> Aggregator | None:
        """The aggregator on turn for ``task_hash`` at ``timestamp`` (None when nobody opted in)."""
        if not self.aggregators:
            return None
        return self.aggregators[turn_position(task_hash, timestamp, len(self.aggregators), self.turn_seconds)]

    def in_grace(self, task_hash: bytes, timestamp: int) -> Aggregator | None:
        """The aggregator of the turn before, while its grace runs and it is not also on turn:
        ``aggregatorTurn``'s second answer."""
        if not self.aggregators or self.grace_seconds == 0 or timestamp < self.grace_seconds:
            return None
        before = self.on_turn(task_hash, timestamp - self.grace_seconds)
        return None if before == self.on_turn(task_hash, timestamp) else before

    def earns_reward(self, task_hash: bytes, timestamp: int, operator_id: int) -> bool:
        """Whether ``operator_id`` is credited the aggregator reward if it lands the task in a block
        stamped ``timestamp``. With no aggregator opted in, every active operator is."""
        if not self.aggregators:
            return True
        return any(
            a is not None and a.operator_id == operator_id
            for a in (self.on_turn(task_hash, timestamp), self.in_grace(task_hash, timestamp))
        )

    def turns(self, task_hash: bytes, timestamp: int) -> list[Turn]:
        """Every aggregator in the order ``task_hash`` reaches them from ``timestamp`` on: the one on
        turn first (its turn started at or before ``timestamp``), then its backups, one turn each."""
        count = len(self.aggregators)
        if count == 0:
            return []
        first = turn_position(task_hash, timestamp, count, self.turn_seconds)
        start = timestamp - timestamp % self.turn_seconds
        return [
            Turn(
                self.aggregators[(first + i) % count],
                start + i * self.turn_seconds,
                start + (i + 1) * self.turn_seconds,
            )
            for i in range(count)
        ]

    # --- following the contract's events ------------------------------------------------------

    def opted_in(self, aggregator: Aggregator) -> AggregatorSchedule:
        """The schedule after ``AggregatorOptedIn``: appended at the end."""
        return replace(self, aggregators=(*self.aggregators, aggregator))

    def opted_out(self, operator_id: int) -> AggregatorSchedule:
        """The schedule after ``AggregatorOptedOut``: the last aggregator takes the leaver's place."""
        listed = list(self.aggregators)
        position = next((i for i, a in enumerate(listed) if a.operator_id == operator_id), None)
        if position is None:
            raise ValueError(f"operator {operator_id} is not an aggregator")
        last = listed.pop()
        if position < len(listed):
            listed[position] = last
        return replace(self, aggregators=tuple(listed))


def read_schedule(center: Any) -> AggregatorSchedule:
    """The schedule from a (blocking) web3 contract at the center's address, ``IAttestationCenter`` ABI."""
    max_aggregators, _count, turn_seconds, grace_seconds = center.functions.aggregatorConfig().call()
    listed = center.functions.activeAggregators().call()
    return AggregatorSchedule(
        aggregators=tuple(Aggregator(int(i), str(account), str(endpoint)) for i, account, endpoint in listed),
        turn_seconds=int(turn_seconds),
        grace_seconds=int(grace_seconds),
        max_aggregators=int(max_aggregators),
    )
