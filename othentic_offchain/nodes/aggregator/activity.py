"""What the aggregator saw of each attester: votes received, requests that failed, and when.

The vote collector notes the outcome of every vote request (:class:`AttesterActivity`); the
``operatorActivity`` method answers it, and the dashboard shows an attester *online* when its
last answer is newer than its last failure. Kept in memory (one small record per operator that
was ever asked), since the node started: a restart forgets it, and the next task fills it in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass
class _Record:
    votes: int = 0
    refusals: int = 0
    failures: int = 0
    last_answer_at: float | None = None
    last_failure_at: float | None = None
    last_failure: str | None = None


class AttesterActivity:
    """Per operator id: how its vote requests went. Bounded by the number of operators asked."""

    def __init__(self) -> None:
        self.started_at = time.time()
        self._records: dict[int, _Record] = {}

    def _record(self, operator_id: int) -> _Record:
        record = self._records.get(operator_id)
        if record is None:
            record = self._records[operator_id] = _Record()
        return record

    def voted(self, operator_id: int) -> None:
        record = self._record(operator_id)
        record.votes += 1
        record.last_answer_at = time.time()

    def refused(self, operator_id: int) -> None:
        """It answered, but with no usable vote (a 4xx, a malformed vote): online all the same."""
        record = self._record(operator_id)
        record.refusals += 1
        record.last_answer_at = time.time()

    def failed(self, operator_id: int, reason: str) -> None:
        """No answer (timeout, connection refused) or a 5xx: ``reason`` says which."""
        record = self._record(operator_id)
        record.failures += 1
        record.last_failure_at = time.time()
        record.last_failure = reason

    def snapshot(self) -> dict[str, Any]:
        operators = []
        for operator_id in sorted(self._records):
            record = self._records[operator_id]
            answered, failed = record.last_answer_at, record.last_failure_at
            online = None if answered is None and failed is None else (failed is None or (answered or 0) > failed)
            operators.append(
                {
                    "operatorId": operator_id,
                    "online": online,
                    "votes": record.votes,
                    "refusals": record.refusals,
                    "failures": record.failures,
                    "lastAnswerAt": answered,
                    "lastFailureAt": failed,
                    "lastFailure": record.last_failure,
                }
            )
        return {"since": self.started_at, "operators": operators}
