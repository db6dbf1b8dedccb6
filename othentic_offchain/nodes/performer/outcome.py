"""What became of one triggered task, as the performer records, counts and answers it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from othentic_offchain.avs.models import to_hex
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.nodes.common.protocol import wire_task

__all__ = ["HTTP_STATUS", "TaskOutcome"]

#: The HTTP status and error code the on-demand trigger answers, per outcome status.
HTTP_STATUS = {
    "sent": (200, "sent"),
    "queued": (202, "queued"),
    "not_elected": (409, "not_elected"),
    "election_failed": (503, "election_failed"),
    "execution_failed": (502, "execution_failed"),
    "outbox_failed": (503, "outbox_failed"),
    "aggregator_error": (502, "aggregator_error"),
}


@dataclass
class TaskOutcome:
    """What became of one trigger.

    ``status``: ``sent`` (an aggregator took it: ``aggregator`` is its URL, ``aggregator_result``
    its answer); ``queued`` (signed and kept in the outbox, but no aggregator took it yet: it is
    retried in the background, and this record turns ``sent``, ``aggregator_error`` or
    ``expired`` when it is settled); ``not_elected``, ``election_failed``, ``execution_failed``,
    ``outbox_failed`` (the outbox could not keep it: it was not sent), ``aggregator_error`` (refused
    for good) or ``expired`` (its deadline passed while queued). ``error`` says why, ``error_code``
    is the JSON-RPC code if any; ``attempts`` counts the failed delivery rounds.
    """

    trigger: str
    params: dict[str, Any]
    status: str = "pending"
    block: int | None = None
    leader: int | None = None
    task: TaskInfo | None = None
    task_hash: bytes | None = None
    signature: bytes | None = None
    aggregator: str | None = None
    aggregator_result: Any = None
    attempts: int = 0
    error: str | None = None
    error_code: int | None = None
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    @property
    def sent(self) -> bool:
        return self.status == "sent"

    def to_wire(self) -> dict[str, Any]:
        """JSON-ready (hex bytes, camelCase names as the rest of the wire)."""
        body: dict[str, Any] = {
            "trigger": self.trigger,
            "status": self.status,
            "params": self.params,
            "block": self.block,
            "leader": self.leader,
        }
        if self.task is not None:
            body["task"] = wire_task(self.task).to_wire()
        if self.task_hash is not None:
            body["taskHash"] = to_hex(self.task_hash)
        if self.signature is not None:
            body["performerSignature"] = to_hex(self.signature)
        if self.status == "sent":
            body["aggregator"] = self.aggregator_result
            body["aggregatorUrl"] = self.aggregator
        if self.attempts:
            body["attempts"] = self.attempts
        if self.error is not None:
            body["error"] = self.error
        if self.error_code is not None:
            body["errorCode"] = self.error_code
        return body
