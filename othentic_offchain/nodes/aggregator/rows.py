"""The aggregator's stored rows as Python values: a task with its status, and one vote.

:class:`~othentic_offchain.nodes.aggregator.store.TasksDB` returns these; they are plain frozen
values, detached from the database.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from enum import Enum

from othentic_offchain.chain.types import TaskInfo


class TaskStatus(str, Enum):
    ACCEPTED = "accepted"
    COLLECTING = "collecting"
    SUBMITTING = "submitting"
    LANDED = "landed"
    FAILED = "failed"


OPEN_STATUSES = (TaskStatus.ACCEPTED, TaskStatus.COLLECTING, TaskStatus.SUBMITTING)


@dataclass(frozen=True)
class TaskRow:
    """One task as stored."""

    task_hash: bytes
    proof_of_task: str
    data: bytes
    task_definition_id: int
    performer: str
    performer_signature: bytes
    status: TaskStatus
    side: bool | None
    approve_power: int
    reject_power: int
    total_power: int
    non_signers: tuple[int, ...] | None
    tx_hash: bytes | None
    raw_tx: bytes | None
    tx_nonce: int | None
    attempts: int
    error: str | None
    task_number: int | None
    landed_block: int | None
    landed_block_hash: bytes | None
    final_at: float | None
    created_at: float
    updated_at: float
    finished_at: float | None

    @property
    def task(self) -> TaskInfo:
        return TaskInfo(self.proof_of_task, self.data, self.performer, self.task_definition_id)

    @property
    def is_final(self) -> bool:
        """Landed, and the landing block is deep enough that no reorganisation is expected to remove it."""
        return self.status is TaskStatus.LANDED and self.final_at is not None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> TaskRow:
        side = row["side"]
        non_signers = row["non_signers"]
        return cls(
            task_hash=bytes(row["task_hash"]),
            proof_of_task=row["proof_of_task"],
            data=bytes(row["data"]),
            task_definition_id=int(row["task_definition_id"]),
            performer=row["performer"],
            performer_signature=bytes(row["performer_signature"]),
            status=TaskStatus(row["status"]),
            side=None if side is None else bool(side),
            approve_power=int(row["approve_power"]),
            reject_power=int(row["reject_power"]),
            total_power=int(row["total_power"]),
            non_signers=None if non_signers is None else tuple(json.loads(non_signers)),
            tx_hash=None if row["tx_hash"] is None else bytes(row["tx_hash"]),
            raw_tx=None if row["raw_tx"] is None else bytes(row["raw_tx"]),
            tx_nonce=row["tx_nonce"],
            attempts=int(row["attempts"]),
            error=row["error"],
            task_number=row["task_number"],
            landed_block=row["landed_block"],
            landed_block_hash=None if row["landed_block_hash"] is None else bytes(row["landed_block_hash"]),
            final_at=row["final_at"],
            created_at=float(row["created_at"]),
            updated_at=float(row["updated_at"]),
            finished_at=row["finished_at"],
        )


@dataclass(frozen=True)
class VoteRow:
    """One attester's vote on one task."""

    task_hash: bytes
    operator_id: int
    is_approved: bool
    signature: tuple[int, int]
    valid: bool | None
    received_at: float

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> VoteRow:
        raw = bytes(row["signature"])
        valid = row["valid"]
        return cls(
            task_hash=bytes(row["task_hash"]),
            operator_id=int(row["operator_id"]),
            is_approved=bool(row["is_approved"]),
            signature=(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
            valid=None if valid is None else bool(valid),
            received_at=float(row["received_at"]),
        )
