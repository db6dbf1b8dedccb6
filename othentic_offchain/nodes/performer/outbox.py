"""The performer's outbox: every task it signed, kept in one SQLite file until an aggregator took it.

A signed task is work the operator already paid for (an execution, perhaps a fee to a data source)
and a round it may never get again; an aggregator that is restarting, overloaded or unreachable for
a minute must not lose it. So the performer writes each signed task here *before* its first
``sendTask`` (WAL with ``synchronous=FULL``: a committed entry survives a crash or a power cut),
and an entry leaves the ``pending`` state only for one of:

* ``accepted``: an aggregator answered ``sendTask`` (with the task's hash); which one, and its answer;
* ``refused``: an aggregator refused the task for good (a bad signature, an unknown or expired
  definition, ...): sending it again cannot help; the refusal and its JSON-RPC code are kept;
* ``expired``: its deadline passed while no aggregator took it (the last error is kept).

Pending entries are retried with backoff (:attr:`next_attempt_at`, :attr:`attempts`); a node
started on the same file sends what is pending at once.

Scope: the performer's signature binds the attestation center and the chain, so an entry signed
for one deployment can only be taken by that deployment's aggregators. An outbox is opened for one
``(attestation center, chain id)`` and sees only that scope's rows: one file may serve a devnet
redeployed at a new address without the old deployment's tasks being sent to the new one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.nodes.common.sqlite import apply_schema

__all__ = ["ACCEPTED", "EXPIRED", "PENDING", "REFUSED", "Outbox", "OutboxEntry", "OutboxError"]

SCHEMA_VERSION = 1

PENDING, ACCEPTED, REFUSED, EXPIRED = "pending", "accepted", "refused", "expired"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    chain_id            INTEGER NOT NULL,
    attestation_center  TEXT    NOT NULL,
    task_hash           BLOB    NOT NULL CHECK (length(task_hash) = 32),
    proof_of_task       TEXT    NOT NULL,
    data                BLOB    NOT NULL,
    task_definition_id  INTEGER NOT NULL,
    performer           TEXT    NOT NULL,
    signature           BLOB    NOT NULL,
    trigger             TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('pending', 'accepted', 'refused', 'expired')),
    attempts            INTEGER NOT NULL DEFAULT 0,   -- failed delivery rounds so far
    next_attempt_at     REAL    NOT NULL,
    deadline            REAL    NOT NULL,             -- unix time after which it is given up
    aggregator          TEXT,                         -- the URL that accepted it
    answer              TEXT,                         -- that aggregator's answer, JSON
    error               TEXT,                         -- the last failure, or the refusal
    error_code          INTEGER,
    created_at          REAL    NOT NULL,
    updated_at          REAL    NOT NULL,
    finished_at         REAL,
    PRIMARY KEY (chain_id, attestation_center, task_hash)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (next_attempt_at) WHERE status = 'pending';
"""

_COLUMNS = (
    "task_hash, proof_of_task, data, task_definition_id, performer, signature, trigger, status, attempts,"
    " next_attempt_at, deadline, aggregator, answer, error, error_code, created_at, finished_at"
)


class OutboxError(RuntimeError):
    """The outbox file cannot be used (another schema version, damaged, closed)."""


@dataclass(frozen=True)
class OutboxEntry:
    """One signed task as the outbox holds it."""

    task_hash: bytes
    task: TaskInfo
    signature: bytes
    trigger: str
    status: str
    attempts: int
    next_attempt_at: float
    deadline: float
    aggregator: str | None
    answer: Any
    error: str | None
    error_code: int | None
    created_at: float
    finished_at: float | None

    @property
    def pending(self) -> bool:
        return self.status == PENDING


class Outbox:
    """The signed tasks of one performer on one deployment, in a SQLite file (WAL mode).

    Thread-safe (one connection behind a lock): the async node calls it from worker threads
    (``asyncio.to_thread``), so a disk sync never blocks its event loop.
    """

    def __init__(
        self, path: str | os.PathLike, attestation_center: str, chain_id: int, *, busy_timeout: float = 10.0
    ) -> None:
        self.path = Path(path)
        self.attestation_center = to_checksum_address(attestation_center)
        self.chain_id = int(chain_id)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            self._db = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            self._open()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise OutboxError(f"cannot open the performer's outbox {path}: {exc}") from exc

    def _open(self) -> None:
        db = self._conn()
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            self.close()
            raise OutboxError(f"{self.path} holds outbox schema version {version}; this node knows {SCHEMA_VERSION}")
        apply_schema(db, _SCHEMA, SCHEMA_VERSION)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxError(f"the performer's outbox {self.path} is closed")
        return self._db

    def close(self) -> None:
        """Close the file (checkpointing the WAL). Idempotent."""
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- writes -----------------------------------------------------------------------------------

    def add(self, task: TaskInfo, signature: bytes, trigger: str, deadline: float) -> OutboxEntry:
        """Keep a signed task (durably, before it is sent); return the entry that stands.

        The same task again (an execution that returned the same proof and data) is one entry: a
        pending one stays as it is (its delivery goes on) until the later deadline, a finished one is pending again with the
        new deadline (the performer means to send it again; an aggregator answers a task it
        already has with its hash).
        """
        task_hash = task.task_hash()
        now = time.time()
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO outbox (chain_id, attestation_center, task_hash, proof_of_task, data,"
                    " task_definition_id, performer, signature, trigger, status, attempts, next_attempt_at,"
                    " deadline, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)"
                    " ON CONFLICT (chain_id, attestation_center, task_hash) DO UPDATE SET"
                    " status = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at,"
                    " deadline = excluded.deadline, signature = excluded.signature, trigger = excluded.trigger,"
                    " aggregator = NULL, answer = NULL, error = NULL, error_code = NULL,"
                    " created_at = excluded.created_at, updated_at = excluded.updated_at, finished_at = NULL"
                    " WHERE outbox.status != 'pending'",
                    (
                        self.chain_id,
                        self.attestation_center,
                        task_hash,
                        task.proof_of_task,
                        bytes(task.data),
                        int(task.task_definition_id),
                        task.performer,
                        bytes(signature),
                        trigger,
                        now,
                        float(deadline),
                        now,
                        now,
                    ),
                )
                # a pending one keeps going, until the later of the two deadlines
                db.execute(
                    "UPDATE outbox SET deadline = MAX(deadline, ?), updated_at = ?"
                    " WHERE chain_id = ? AND attestation_center = ? AND task_hash = ? AND status = 'pending'",
                    (float(deadline), now, self.chain_id, self.attestation_center, task_hash),
                )
                row = self._select(db, task_hash)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        assert row is not None
        return _entry(row)

    def accepted(self, task_hash: bytes, aggregator: str, answer: Any) -> None:
        """An aggregator took the task: it leaves the queue."""
        self._finish(task_hash, ACCEPTED, aggregator=aggregator, answer=json.dumps(answer, default=str))

    def refused(self, task_hash: bytes, aggregator: str, error: str, code: int | None) -> None:
        """An aggregator refused the task for good: it leaves the queue, the refusal is kept."""
        self._finish(task_hash, REFUSED, aggregator=aggregator, error=error, error_code=code)

    def expired(self, task_hash: bytes, error: str) -> None:
        """Its deadline passed with no aggregator taking it."""
        self._finish(task_hash, EXPIRED, error=error)

    def retry_at(self, task_hash: bytes, when: float, error: str, code: int | None = None) -> int:
        """A delivery round failed: try again at ``when``; returns the failed rounds so far."""
        now = time.time()
        with self._lock:
            db = self._conn()
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, error = ?, error_code = ?,"
                " updated_at = ? WHERE chain_id = ? AND attestation_center = ? AND task_hash = ?"
                " AND status = 'pending'",
                (when, error, code, now, self.chain_id, self.attestation_center, _task_hash(task_hash)),
            )
            row = db.execute(
                "SELECT attempts FROM outbox WHERE chain_id = ? AND attestation_center = ? AND task_hash = ?",
                (self.chain_id, self.attestation_center, _task_hash(task_hash)),
            ).fetchone()
        return int(row[0]) if row else 0

    def due_now(self) -> None:
        """Every pending entry is due at once (a node starting on this file sends them first)."""
        with self._lock:
            self._conn().execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE chain_id = ? AND attestation_center = ?"
                " AND status = 'pending'",
                (time.time(), self.chain_id, self.attestation_center),
            )

    def _finish(self, task_hash: bytes, status: str, **fields: Any) -> None:
        now = time.time()
        names = ", ".join(f"{name} = ?" for name in fields)
        with self._lock:
            self._conn().execute(
                f"UPDATE outbox SET status = ?, {names}, updated_at = ?, finished_at = ?"
                " WHERE chain_id = ? AND attestation_center = ? AND task_hash = ? AND status = 'pending'",
                (status, *fields.values(), now, now, self.chain_id, self.attestation_center, _task_hash(task_hash)),
            )

    # -- reads ------------------------------------------------------------------------------------

    def get(self, task_hash: bytes) -> OutboxEntry | None:
        with self._lock:
            row = self._select(self._conn(), _task_hash(task_hash))
        return None if row is None else _entry(row)

    def due(self, now: float, limit: int = 64) -> list[OutboxEntry]:
        """Pending entries whose next attempt is due, oldest first."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    f"SELECT {_COLUMNS} FROM outbox WHERE chain_id = ? AND attestation_center = ?"
                    " AND status = 'pending' AND next_attempt_at <= ? ORDER BY created_at LIMIT ?",
                    (self.chain_id, self.attestation_center, now, limit),
                )
                .fetchall()
            )
        return [_entry(row) for row in rows]

    def next_due(self) -> float | None:
        """When the earliest pending entry is next due (None: nothing pending)."""
        with self._lock:
            row = (
                self._conn()
                .execute(
                    "SELECT min(next_attempt_at) FROM outbox WHERE chain_id = ? AND attestation_center = ?"
                    " AND status = 'pending'",
                    (self.chain_id, self.attestation_center),
                )
                .fetchone()
            )
        return None if row[0] is None else float(row[0])

    def depth(self) -> tuple[int, float | None]:
        """How many entries are pending, and when the oldest was written (None if none)."""
        with self._lock:
            count, oldest = (
                self._conn()
                .execute(
                    "SELECT count(*), min(created_at) FROM outbox WHERE chain_id = ? AND attestation_center = ?"
                    " AND status = 'pending'",
                    (self.chain_id, self.attestation_center),
                )
                .fetchone()
            )
        return int(count), None if oldest is None else float(oldest)

    def counts(self) -> dict[str, int]:
        """Entries per status in this scope."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT status, count(*) FROM outbox WHERE chain_id = ? AND attestation_center = ? GROUP BY status",
                    (self.chain_id, self.attestation_center),
                )
                .fetchall()
            )
        return {str(status): int(count) for status, count in rows}

    def _select(self, db: sqlite3.Connection, task_hash: bytes):
        return db.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE chain_id = ? AND attestation_center = ? AND task_hash = ?",
            (self.chain_id, self.attestation_center, task_hash),
        ).fetchone()


def _task_hash(value: bytes) -> bytes:
    value = bytes(value)
    if len(value) != 32:
        raise ValueError(f"taskHash must be 32 bytes, got {len(value)}")
    return value


def _entry(row: tuple) -> OutboxEntry:
    (
        task_hash,
        proof_of_task,
        data,
        definition_id,
        performer,
        signature,
        trigger,
        status,
        attempts,
        next_attempt_at,
        deadline,
        aggregator,
        answer,
        error,
        error_code,
        created_at,
        finished_at,
    ) = row
    return OutboxEntry(
        task_hash=bytes(task_hash),
        task=TaskInfo(proof_of_task, bytes(data), performer, int(definition_id)),
        signature=bytes(signature),
        trigger=str(trigger),
        status=str(status),
        attempts=int(attempts),
        next_attempt_at=float(next_attempt_at),
        deadline=float(deadline),
        aggregator=aggregator,
        answer=None if answer is None else json.loads(answer),
        error=error,
        error_code=None if error_code is None else int(error_code),
        created_at=float(created_at),
        finished_at=None if finished_at is None else float(finished_at),
    )
