"""The attester's memory of every vote it signed: one SQLite file, one row per task.

Why it exists: the penalty manager slashes an operator whose signatures sit on both the approve and
the reject vote of one task. An honest attester asked twice about a task (an aggregator retrying,
two aggregators, a restart in between) must therefore answer the vote it already gave, never sign
the other side. The record is the proof of what was given, so it is written before the vote leaves
the process, durably (WAL with ``synchronous=FULL``: a committed vote survives a crash or a power
cut), and atomically (the first writer of a task wins; everyone else reads the winner's vote).

Scope: a vote hash binds the attestation center and the chain, so a vote given on one deployment
can never be used against the operator on another. A store is therefore opened for one
``(attestation center, chain id)`` and its rows are keyed by ``(chain id, center, taskHash)``: one
file may serve several deployments (a devnet redeployed at a new address) without one's record
blocking the other's votes. Within a scope, ``taskHash`` is the key.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from eth_utils import to_checksum_address

from othentic_offchain.nodes.common.sqlite import apply_schema

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS votes (
    chain_id            INTEGER NOT NULL,
    attestation_center  TEXT    NOT NULL,
    task_hash           BLOB    NOT NULL CHECK (length(task_hash) = 32),
    is_approved         INTEGER NOT NULL CHECK (is_approved IN (0, 1)),
    signature           BLOB    NOT NULL CHECK (length(signature) = 64),
    operator_id         INTEGER NOT NULL,
    task_definition_id  INTEGER,
    proof_of_task       TEXT,
    performer           TEXT,
    recorded_at         REAL    NOT NULL,
    PRIMARY KEY (chain_id, attestation_center, task_hash)
) WITHOUT ROWID;
"""


class VoteStoreError(RuntimeError):
    """The vote file cannot be used (another schema version, unreadable, closed)."""


@dataclass(frozen=True)
class StoredVote:
    """A vote as recorded. ``created`` is True only for the call that wrote it."""

    task_hash: bytes
    is_approved: bool
    signature: tuple[int, int]
    operator_id: int
    task_definition_id: int | None
    proof_of_task: str | None
    performer: str | None
    recorded_at: float
    created: bool = False


def _signature_blob(signature: tuple[int, int]) -> bytes:
    x, y = (int(w) for w in signature)
    if not (0 <= x < 2**256 and 0 <= y < 2**256):
        raise ValueError("signature words must be uint256")
    return x.to_bytes(32, "big") + y.to_bytes(32, "big")


class VoteStore:
    """Votes of one attester on one deployment, in a SQLite file (WAL mode).

    Thread-safe: one connection guarded by a lock, so the async node calls it from worker threads
    (``asyncio.to_thread``) without blocking its event loop on a disk sync. Several processes may
    open the same file; SQLite's locks keep :meth:`record_or_get` atomic across them too.
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
        try:
            # isolation_level=None: we open transactions ourselves (BEGIN IMMEDIATE takes the write
            # lock up front, so the insert-then-read below cannot interleave with another writer).
            self._db: sqlite3.Connection | None = sqlite3.connect(
                str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._open()
        except sqlite3.DatabaseError as exc:
            raise VoteStoreError(f"cannot open the vote record {path}: {exc}") from exc

    def _open(self) -> None:
        db = self._conn()
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        # A damaged file could miss a recorded vote on lookup, and the node would then sign the
        # other side: refuse to start until the file checks out.
        problems = [str(row[0]) for row in db.execute("PRAGMA quick_check(10)")]
        if problems != ["ok"]:
            self.close()
            detail = "; ".join(" ".join(p.split()) for p in problems)[:500]
            raise VoteStoreError(
                f"the vote record {self.path} is corrupted (PRAGMA quick_check: {detail}); this attester "
                "will not sign until it passes: restore the file from a backup (never start from an empty "
                "one while this operator's votes may still be disputed)"
            )
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise VoteStoreError(f"{self.path} holds vote schema version {version}; this node knows {SCHEMA_VERSION}")
        apply_schema(db, _SCHEMA, SCHEMA_VERSION)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise VoteStoreError(f"the vote record {self.path} is closed")
        return self._db

    def close(self) -> None:
        """Close the file (checkpointing the WAL). Idempotent."""
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                db.close()

    def __enter__(self) -> VoteStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- votes ------------------------------------------------------------------------------------

    def record_or_get(
        self,
        task_hash: bytes,
        is_approved: bool,
        signature: tuple[int, int],
        operator_id: int,
        *,
        task_definition_id: int | None = None,
        proof_of_task: str | None = None,
        performer: str | None = None,
    ) -> StoredVote:
        """Record this vote unless the task already has one; return the vote that stands.

        Atomic: of two racing calls for one task (threads or processes), exactly one writes, and
        both get the written vote back. Callers must answer with the returned vote, not their own.
        """
        task_hash = _task_hash(task_hash)
        blob = _signature_blob(signature)
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                cursor = db.execute(
                    "INSERT INTO votes (chain_id, attestation_center, task_hash, is_approved, signature,"
                    " operator_id, task_definition_id, proof_of_task, performer, recorded_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (chain_id, attestation_center, task_hash) DO NOTHING",
                    (
                        self.chain_id,
                        self.attestation_center,
                        task_hash,
                        int(bool(is_approved)),
                        blob,
                        int(operator_id),
                        task_definition_id,
                        proof_of_task,
                        performer,
                        time.time(),
                    ),
                )
                created = cursor.rowcount == 1
                row = self._select(db, task_hash)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        assert row is not None  # inserted or already there, inside one write transaction
        return _vote(row, created)

    def get(self, task_hash: bytes) -> StoredVote | None:
        """The vote recorded for this task, or None if this attester never voted on it."""
        task_hash = _task_hash(task_hash)
        with self._lock:
            row = self._select(self._conn(), task_hash)
        return None if row is None else _vote(row, False)

    def count(self, is_approved: bool | None = None) -> int:
        """How many votes this attester recorded on this deployment (one side only if given)."""
        query = "SELECT count(*) FROM votes WHERE chain_id = ? AND attestation_center = ?"
        args: tuple = (self.chain_id, self.attestation_center)
        if is_approved is not None:
            query += " AND is_approved = ?"
            args += (int(bool(is_approved)),)
        with self._lock:
            return int(self._conn().execute(query, args).fetchone()[0])

    def _select(self, db: sqlite3.Connection, task_hash: bytes):
        return db.execute(
            "SELECT task_hash, is_approved, signature, operator_id, task_definition_id, proof_of_task,"
            " performer, recorded_at FROM votes"
            " WHERE chain_id = ? AND attestation_center = ? AND task_hash = ?",
            (self.chain_id, self.attestation_center, task_hash),
        ).fetchone()


def _task_hash(value: bytes) -> bytes:
    value = bytes(value)
    if len(value) != 32:
        raise ValueError(f"taskHash must be 32 bytes, got {len(value)}")
    return value


def _vote(row: tuple, created: bool) -> StoredVote:
    task_hash, approved, blob, operator_id, definition_id, proof_of_task, performer, recorded_at = row
    blob = bytes(blob)
    return StoredVote(
        task_hash=bytes(task_hash),
        is_approved=bool(approved),
        signature=(int.from_bytes(blob[:32], "big"), int.from_bytes(blob[32:], "big")),
        operator_id=int(operator_id),
        task_definition_id=None if definition_id is None else int(definition_id),
        proof_of_task=proof_of_task,
        performer=performer,
        recorded_at=float(recorded_at),
        created=created,
    )
