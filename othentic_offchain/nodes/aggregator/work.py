"""One task while the aggregator processes it: its votes in memory, and how a step asks for another try.

A :class:`TaskWork` is built from the store when processing starts (or resumes after a restart)
and lives until the task landed or failed; the store keeps everything a restart needs, this keeps
what the steps need between them (the decoded votes, who refused, the request body).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.chain.view import DefinitionView
from othentic_offchain.crypto.bn254 import G1Point


@dataclass
class TaskWork:
    """What the node holds in memory about one task while it processes it."""

    task_hash: bytes
    task: TaskInfo
    signature: bytes
    created_at: float
    votes: dict[int, tuple[bool, G1Point]] = field(default_factory=dict)
    bad: set[int] = field(default_factory=set)  # signatures found invalid by bisection
    refused: set[int] = field(default_factory=set)  # attesters that refused the request (4xx)
    request_body: bytes = b""
    request_headers: dict[str, str] = field(default_factory=dict)  # the body's content type and signature
    turn_reached: bool = False  # the schedule let this node submit (turns.TurnKeeper): do not wait again

    def powers(self, members: Mapping[int, int]) -> tuple[int, int]:
        """``(approve, reject)`` voting power of the votes of current members."""
        approve = reject = 0
        for operator_id, (side, _point) in self.votes.items():
            stake = members.get(operator_id)
            if stake is None:
                continue
            if side:
                approve += stake
            else:
                reject += stake
        return approve, reject

    def decided(self, definition: DefinitionView) -> bool | None:
        """The side that holds the contract's threshold, if one does."""
        approve, reject = self.powers(definition.members)
        if definition.reached(approve, True):
            return True
        if definition.reached(reject, False):
            return False
        return None


class Retry(Exception):
    """The submission did not go through for a reason a refresh and another try may fix.
    ``reason`` is a short code (a metric label, the stored failure reason if retries run out),
    ``message`` the details."""

    def __init__(self, reason: str, message: str = "", *, backoff: bool = True):
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message
        self.backoff = backoff


class Recollect(Exception):
    """Votes were dropped (bad signatures): count again, ask again, without spending a retry."""


def hex_or_none(value: bytes | None) -> str | None:
    return None if value is None else "0x" + bytes(value).hex()


def side_name(side: bool | None) -> str | None:
    return None if side is None else ("approve" if side else "reject")
