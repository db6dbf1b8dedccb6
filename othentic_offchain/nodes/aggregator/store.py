"""The aggregator's memory: every task it accepted and every vote it received, in SQLite (WAL).

The aggregator promises a performer that an accepted task is never lost and never lands twice. It
keeps that promise by writing each state change *before* the action the change enables:

    sendTask answered           after  the task is stored (status ``accepted``)
    votes requested             after  ``collecting``
    transaction broadcast       after  its signed bytes, hash and nonce are stored (``submitting``)
    outcome reported            after  ``landed`` (task number) or ``failed`` (reason)
    final                       after  its landing block is deep enough (``final_at``)

so after a crash the rows say exactly what may have happened: a ``submitting`` task has a
transaction that may be on-chain, and its stored hash and raw bytes let a restart find it or send
the very same transaction again instead of a second one. Every transaction sent for a task (a
replacement with higher fees on the same nonce, and the ones it replaced) is kept in
``transactions`` until the task is final: whichever of them mines settles it, and a reorganisation
that removes the landing block finds the transaction that landed, to send it again.

Writes go through one thread with its own connection and are *group-committed*: every write queued
while the previous commit ran is committed in the next single transaction, each in a savepoint so
that one failing write does not undo the others. Callers that need durability await the returned
future (it resolves after COMMIT); callers that only need ordering (a vote, a status change whose
loss a restart repairs) do not wait. Order of calls is order of execution: a later write that is
awaited implies every earlier one is committed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.nodes.aggregator.rows import OPEN_STATUSES, TaskRow, TaskStatus, VoteRow

__all__ = ["OPEN_STATUSES", "SCHEMA_VERSION", "TaskRow", "TaskStatus", "TasksDB", "TasksDBClosed", "VoteRow"]

logger = logging.getLogger("othentic.tasks_db")

SCHEMA_VERSION = 3  # 2: the transactions table; 3: landed_block_hash and final_at

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_hash           BLOB PRIMARY KEY,
    proof_of_task       TEXT NOT NULL,
    data                BLOB NOT NULL,
    task_definition_id  INTEGER NOT NULL,
    performer           TEXT NOT NULL,
    performer_signature BLOB NOT NULL,
    status              TEXT NOT NULL
                        CHECK (status IN ('accepted', 'collecting', 'submitting', 'landed', 'failed')),
    side                INTEGER,            -- 1 approve, 0 reject, NULL not decided
    approve_power       TEXT NOT NULL DEFAULT '0',   -- stakes exceed 64 bits: decimal text
    reject_power        TEXT NOT NULL DEFAULT '0',
    total_power         TEXT NOT NULL DEFAULT '0',
    non_signers         TEXT,               -- JSON list of the submission's non-signer ids
    tx_hash             BLOB,
    raw_tx              BLOB,
    tx_nonce            INTEGER,
    attempts            INTEGER NOT NULL DEFAULT 0,
    error               TEXT,
    task_number         INTEGER,
    landed_block        INTEGER,
    landed_block_hash   BLOB,               -- the landing block's hash, to notice a reorganisation
    final_at            REAL,               -- when the landing was found deep enough (NULL: not final)
    created_at          REAL NOT NULL,
    updated_at          REAL NOT NULL,
    finished_at         REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tasks_open ON tasks (status) WHERE status IN ('accepted', 'collecting', 'submitting');
CREATE INDEX IF NOT EXISTS tasks_unfinal ON tasks (landed_block) WHERE status = 'landed' AND final_at IS NULL;
-- listTasks pages through the newest tasks: no scan of the whole table
CREATE INDEX IF NOT EXISTS tasks_created ON tasks (created_at, task_hash);
CREATE TABLE IF NOT EXISTS transactions (
    tx_hash      BLOB PRIMARY KEY,
    task_hash    BLOB NOT NULL REFERENCES tasks (task_hash),
    nonce        INTEGER NOT NULL,
    raw_tx       BLOB NOT NULL,
    created_at   REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS transactions_task ON transactions (task_hash, nonce);
CREATE TABLE IF NOT EXISTS votes (
    task_hash    BLOB NOT NULL REFERENCES tasks (task_hash),
    operator_id  INTEGER NOT NULL,
    is_approved  INTEGER NOT NULL,
    signature    BLOB NOT NULL,             -- G1 point: x || y, 32 bytes each
    valid        INTEGER,                   -- NULL unchecked, 0 found bad by bisection
    received_at  REAL NOT NULL,
    PRIMARY KEY (task_hash, operator_id)
) WITHOUT ROWID;
"""


class TasksDBClosed(RuntimeError):
    """The store was closed; nothing more can be written."""


_Op = Callable[[sqlite3.Connection], Any]
_STOP = object()


class TasksDB:
    """The store; create it inside a running event loop (its futures belong to that loop).

    ``synchronous`` is SQLite's setting: ``FULL`` (default) makes every commit survive a power
    loss; ``NORMAL`` survives a crash of the process only, and commits faster on slow disks.
    ``batch_limit`` caps how many queued writes one transaction takes.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "FULL", batch_limit: int = 512):
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}")
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        self.batch_limit = batch_limit
        self._loop = asyncio.get_running_loop()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._outbox: list[tuple[_Op, asyncio.Future]] = []
        self._closed = False
        self.commits = 0  # transactions committed (each may hold many writes): for tests and metrics
        self.writes = 0
        self._ready = threading.Event()
        self._open_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"tasks-db:{self.path.name}", daemon=True)
        self._thread.start()

    @classmethod
    async def open(cls, path: str | Path, **kwargs: Any) -> TasksDB:
        """Open (creating the file and schema if needed) and wait until it is usable."""
        db = cls(path, **kwargs)
        await asyncio.to_thread(db._ready.wait)
        if db._open_error is not None:
            raise db._open_error
        return db

    # --- the writer thread ----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path} has schema version {version}, newer than this code's {SCHEMA_VERSION}")
        _migrate(conn, version)
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return conn

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # reported by open(); every later call fails too
            self._open_error = exc
            self._closed = True
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    break
                batch = list(first)
                stop = False
                while len(batch) < self.batch_limit:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    batch.extend(item)
                self._execute(conn, batch)
                if stop:
                    break
        finally:
            conn.close()

    def _execute(self, conn: sqlite3.Connection, batch: list[tuple[_Op, asyncio.Future]]) -> None:
        results: list[tuple[asyncio.Future, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, future in batch:
                conn.execute("SAVEPOINT op")
                try:
                    value = op(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    results.append((future, None, exc))
                else:
                    conn.execute("RELEASE op")
                    results.append((future, value, None))
            conn.execute("COMMIT")
            self.commits += 1
            self.writes += len(batch)
        except Exception as exc:  # the commit itself failed: nothing of the batch is stored
            try:
                conn.execute("ROLLBACK")
            except Exception:
                pass
            results = [(future, None, exc) for _op, future in batch]
        self._loop.call_soon_threadsafe(_settle_all, results)

    def _submit(self, op: _Op) -> asyncio.Future:
        # Writes of one event-loop iteration travel to the thread together: waking the thread
        # (and handing it the GIL) once per iteration instead of once per write.
        if self._closed:
            raise TasksDBClosed(f"tasks database {self.path} is closed")
        future = self._loop.create_future()
        future.add_done_callback(_log_unretrieved)
        self._outbox.append((op, future))
        if len(self._outbox) == 1:
            self._loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        if self._outbox:
            batch, self._outbox = self._outbox, []
            self._queue.put(batch)

    async def close(self) -> None:
        """Commit what is queued, then close the connection and stop the thread."""
        if self._closed and not self._thread.is_alive():
            return
        self._flush()
        self._closed = True
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    # --- writes ---------------------------------------------------------------------------------

    def insert_task(self, task_hash: bytes, task: TaskInfo, performer_signature: bytes) -> asyncio.Future:
        """Store a new task as ``accepted``; resolves to True, or False when it was known already."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO tasks (task_hash, proof_of_task, data, task_definition_id, performer,"
                " performer_signature, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'accepted', ?, ?)",
                (
                    task_hash,
                    task.proof_of_task,
                    task.data,
                    task.task_definition_id,
                    task.performer,
                    bytes(performer_signature),
                    now,
                    now,
                ),
            )
            return cursor.rowcount == 1

        return self._submit(op)

    def set_collecting(self, task_hash: bytes, *, total_power: int | None = None) -> asyncio.Future:
        """The task (again) waits for votes; a stored transaction, if any, is known to be dead."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE tasks SET status = 'collecting', tx_hash = NULL, raw_tx = NULL, tx_nonce = NULL,"
                " total_power = COALESCE(?, total_power), updated_at = ? WHERE task_hash = ? AND status NOT IN"
                " ('landed', 'failed')",
                (None if total_power is None else str(total_power), now, task_hash),
            )
            _forget_transactions(conn, task_hash)

        return self._submit(op)

    def reopen_failed(self, task_hash: bytes) -> asyncio.Future:
        """A task that failed (and did not land) is accepted again; resolves to True, or False
        when it is not ``failed``. Its votes stay; its attempts count on."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE tasks SET status = 'accepted', tx_hash = NULL, raw_tx = NULL, tx_nonce = NULL,"
                " updated_at = ?, finished_at = NULL WHERE task_hash = ? AND status = 'failed'",
                (now, task_hash),
            )
            return cursor.rowcount == 1

        return self._submit(op)

    def record_vote(
        self, task_hash: bytes, operator_id: int, is_approved: bool, signature: tuple[int, int]
    ) -> asyncio.Future:
        """Store (or replace) one operator's vote on a task."""
        raw = int(signature[0]).to_bytes(32, "big") + int(signature[1]).to_bytes(32, "big")
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO votes (task_hash, operator_id, is_approved, signature, valid, received_at)"
                " VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT (task_hash, operator_id) DO UPDATE SET"
                " is_approved = excluded.is_approved, signature = excluded.signature, valid = NULL,"
                " received_at = excluded.received_at",
                (task_hash, int(operator_id), int(bool(is_approved)), raw, now),
            )

        return self._submit(op)

    def mark_votes_invalid(self, task_hash: bytes, operator_ids: Iterable[int]) -> asyncio.Future:
        """Bisection found these votes' signatures bad: keep them for the record, never use them."""
        ids = [int(i) for i in operator_ids]

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE votes SET valid = 0 WHERE task_hash = ? AND operator_id = ?", [(task_hash, i) for i in ids]
            )

        return self._submit(op)

    def update_powers(self, task_hash: bytes, *, approve: int, reject: int, total: int) -> asyncio.Future:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE tasks SET approve_power = ?, reject_power = ?, total_power = ?, updated_at = ?"
                " WHERE task_hash = ?",
                (str(approve), str(reject), str(total), time.time(), task_hash),
            )

        return self._submit(op)

    def record_submission(
        self,
        task_hash: bytes,
        *,
        side: bool,
        tx_hash: bytes,
        raw_tx: bytes,
        nonce: int,
        non_signers: Iterable[int],
        approve_power: int,
        reject_power: int,
        total_power: int,
    ) -> asyncio.Future:
        """The signed transaction, BEFORE it is broadcast: status ``submitting``, one more attempt."""
        non_signers_json = json.dumps(sorted(int(i) for i in non_signers))

        def op(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE tasks SET status = 'submitting', side = ?, tx_hash = ?, raw_tx = ?, tx_nonce = ?,"
                " non_signers = ?, approve_power = ?, reject_power = ?, total_power = ?,"
                " attempts = attempts + 1, updated_at = ? WHERE task_hash = ? AND status NOT IN ('landed', 'failed')",
                (
                    int(side),
                    tx_hash,
                    raw_tx,
                    int(nonce),
                    non_signers_json,
                    str(approve_power),
                    str(reject_power),
                    str(total_power),
                    time.time(),
                    task_hash,
                ),
            )
            if cursor.rowcount != 1:
                raise LookupError(f"task 0x{task_hash.hex()} is unknown or finished: no submission recorded")
            _keep_transaction(conn, task_hash, tx_hash, nonce, raw_tx)

        return self._submit(op)

    def record_replacement(self, task_hash: bytes, *, tx_hash: bytes, raw_tx: bytes, nonce: int) -> asyncio.Future:
        """A transaction replacing the task's stored one on the same nonce, BEFORE it is broadcast:
        it becomes the task's transaction; the replaced ones stay in ``transactions``."""

        def op(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE tasks SET tx_hash = ?, raw_tx = ?, updated_at = ? WHERE task_hash = ?"
                " AND status = 'submitting' AND tx_nonce = ?",
                (tx_hash, raw_tx, time.time(), task_hash, int(nonce)),
            )
            if cursor.rowcount != 1:
                raise LookupError(
                    f"task 0x{task_hash.hex()} is not submitting on nonce {nonce}: no replacement recorded"
                )
            _keep_transaction(conn, task_hash, tx_hash, nonce, raw_tx)

        return self._submit(op)

    def mark_landed(
        self,
        task_hash: bytes,
        *,
        task_number: int,
        side: bool,
        block: int | None = None,
        tx_hash: bytes | None = None,
        block_hash: bytes | None = None,
        final: bool = False,
    ) -> asyncio.Future:
        """The task is on-chain (by our transaction ``tx_hash``, or by anyone's when None), in
        ``block``; ``final`` when no reorganisation is to be feared (finality depth 0). Until it
        is final, the task's transactions are kept, and the one that landed is the row's."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            if tx_hash is not None:  # ours landed: the row carries it (it may be one a replacement replaced)
                conn.execute(
                    "UPDATE tasks SET raw_tx = COALESCE((SELECT raw_tx FROM transactions WHERE tx_hash = ?), raw_tx)"
                    " WHERE task_hash = ?",
                    (tx_hash, task_hash),
                )
            else:  # someone's transaction: none of ours is to be sent again if it is reorganised away
                conn.execute("UPDATE tasks SET raw_tx = NULL, tx_nonce = NULL WHERE task_hash = ?", (task_hash,))
            conn.execute(
                "UPDATE tasks SET status = 'landed', task_number = ?, side = ?, landed_block = ?,"
                " landed_block_hash = ?, final_at = ?, tx_hash = COALESCE(?, tx_hash), error = NULL,"
                " updated_at = ?, finished_at = COALESCE(finished_at, ?) WHERE task_hash = ?",
                (
                    int(task_number),
                    int(bool(side)),
                    block,
                    block_hash,
                    now if final else None,
                    tx_hash,
                    now,
                    now,
                    task_hash,
                ),
            )
            if final:
                _forget_transactions(conn, task_hash)

        return self._submit(op)

    def mark_final(self, task_hash: bytes, *, block: int, block_hash: bytes | None) -> asyncio.Future:
        """The landing (in ``block``) is deep enough: the task is final; its transactions go.
        Resolves to True, or False when the task is not (or no longer) landed."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE tasks SET final_at = ?, landed_block = ?, landed_block_hash = COALESCE(?, landed_block_hash),"
                " updated_at = ? WHERE task_hash = ? AND status = 'landed' AND final_at IS NULL",
                (now, int(block), block_hash, now, task_hash),
            )
            if cursor.rowcount == 1:
                _forget_transactions(conn, task_hash)
            return cursor.rowcount == 1

        return self._submit(op)

    def move_landing(
        self, task_hash: bytes, *, task_number: int, block: int, block_hash: bytes | None
    ) -> asyncio.Future:
        """The task is on-chain in ``block`` (a reorganisation moved it, or its block's hash was
        not known yet): the row follows the chain."""

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE tasks SET task_number = ?, landed_block = ?, landed_block_hash = ?, updated_at = ?"
                " WHERE task_hash = ? AND status = 'landed' AND final_at IS NULL",
                (int(task_number), int(block), block_hash, time.time(), task_hash),
            )

        return self._submit(op)

    def reopen_reorganised(self, task_hash: bytes) -> asyncio.Future:
        """A landed task that is no longer on-chain (a reorganisation removed its block) is open
        again: ``submitting`` on the transaction that had landed when it is ours (it is sent again,
        and whichever of its transactions mines settles it), else ``accepted``. Resolves to the new
        :class:`TaskStatus`, or None when the task is not landed-and-not-final."""

        def op(conn: sqlite3.Connection) -> TaskStatus | None:
            row = conn.execute(
                "SELECT raw_tx, tx_nonce FROM tasks WHERE task_hash = ? AND status = 'landed' AND final_at IS NULL",
                (task_hash,),
            ).fetchone()
            if row is None:
                return None
            status = TaskStatus.SUBMITTING if row[0] is not None and row[1] is not None else TaskStatus.ACCEPTED
            if status is TaskStatus.ACCEPTED:
                conn.execute(
                    "UPDATE tasks SET tx_hash = NULL, raw_tx = NULL, tx_nonce = NULL WHERE task_hash = ?", (task_hash,)
                )
            conn.execute(
                "UPDATE tasks SET status = ?, task_number = NULL, landed_block = NULL, landed_block_hash = NULL,"
                " error = 'reorganised: its landing block left the chain', updated_at = ?, finished_at = NULL"
                " WHERE task_hash = ?",
                (status.value, time.time(), task_hash),
            )
            return status

        return self._submit(op)

    def mark_failed(
        self,
        task_hash: bytes,
        reason: str,
        *,
        approve_power: int | None = None,
        reject_power: int | None = None,
        total_power: int | None = None,
    ) -> asyncio.Future:
        """The task will not land: ``reason`` says why (``no_quorum``, ``expired``, ...)."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE tasks SET status = 'failed', error = ?, approve_power = COALESCE(?, approve_power),"
                " reject_power = COALESCE(?, reject_power), total_power = COALESCE(?, total_power),"
                " updated_at = ?, finished_at = ? WHERE task_hash = ? AND status != 'landed'",
                (reason, _text(approve_power), _text(reject_power), _text(total_power), now, now, task_hash),
            )
            _forget_transactions(conn, task_hash)

        return self._submit(op)

    def note_error(self, task_hash: bytes, error: str) -> asyncio.Future:
        """A problem worth showing in taskStatus that does not end the task (a retried revert)."""

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE tasks SET error = ?, updated_at = ? WHERE task_hash = ?", (error, time.time(), task_hash)
            )

        return self._submit(op)

    # --- reads (through the same thread: they see every earlier write) ---------------------------

    async def get(self, task_hash: bytes) -> TaskRow | None:
        def op(conn: sqlite3.Connection) -> TaskRow | None:
            row = conn.execute("SELECT * FROM tasks WHERE task_hash = ?", (task_hash,)).fetchone()
            return None if row is None else TaskRow.from_sql(row)

        return await self._submit(op)

    async def transactions(self, task_hash: bytes, nonce: int) -> list[tuple[bytes, bytes]]:
        """``(tx_hash, raw_tx)`` of every transaction kept for the task on ``nonce``, oldest first."""

        def op(conn: sqlite3.Connection) -> list[tuple[bytes, bytes]]:
            rows = conn.execute(
                "SELECT tx_hash, raw_tx FROM transactions WHERE task_hash = ? AND nonce = ? ORDER BY created_at",
                (task_hash, int(nonce)),
            )
            return [(bytes(r[0]), bytes(r[1])) for r in rows]

        return await self._submit(op)

    async def votes(self, task_hash: bytes) -> list[VoteRow]:
        def op(conn: sqlite3.Connection) -> list[VoteRow]:
            rows = conn.execute("SELECT * FROM votes WHERE task_hash = ? ORDER BY operator_id", (task_hash,))
            return [VoteRow.from_sql(r) for r in rows]

        return await self._submit(op)

    async def open_tasks(self) -> list[TaskRow]:
        """Every task not landed or failed, oldest first: what a restart must finish."""

        def op(conn: sqlite3.Connection) -> list[TaskRow]:
            rows = conn.execute(
                "SELECT * FROM tasks WHERE status IN ('accepted', 'collecting', 'submitting') ORDER BY created_at"
            )
            return [TaskRow.from_sql(r) for r in rows]

        return await self._submit(op)

    async def unfinal(self, limit: int = 1000) -> list[TaskRow]:
        """Landed tasks not yet final, lowest landing block first (at most ``limit``)."""

        def op(conn: sqlite3.Connection) -> list[TaskRow]:
            rows = conn.execute(
                "SELECT * FROM tasks WHERE status = 'landed' AND final_at IS NULL ORDER BY landed_block LIMIT ?",
                (int(limit),),
            )
            return [TaskRow.from_sql(r) for r in rows]

        return await self._submit(op)

    async def unfinal_count(self) -> int:
        def op(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute("SELECT COUNT(*) FROM tasks WHERE status = 'landed' AND final_at IS NULL").fetchone()[0]
            )

        return await self._submit(op)

    async def open_summary(self) -> tuple[int, float | None, int]:
        """(open tasks, the oldest one's ``created_at`` or None, how many are reported stuck)."""

        def op(conn: sqlite3.Connection) -> tuple[int, float | None, int]:
            count, oldest, stuck = conn.execute(
                "SELECT COUNT(*), MIN(created_at), SUM(CASE WHEN error LIKE 'stuck:%' THEN 1 ELSE 0 END)"
                " FROM tasks WHERE status IN ('accepted', 'collecting', 'submitting')"
            ).fetchone()
            return int(count), (float(oldest) if oldest is not None else None), int(stuck or 0)

        return await self._submit(op)

    async def recent(
        self,
        limit: int,
        *,
        before: tuple[float, bytes] | None = None,
        statuses: Iterable[TaskStatus] | None = None,
    ) -> list[tuple[TaskRow, list[VoteRow]]]:
        """At most ``limit`` tasks, newest first (by ``created_at``, then hash), each with its votes;
        only those strictly older than ``before`` (a ``(created_at, task_hash)`` of an earlier
        page) and, given ``statuses``, in one of them. Two indexed queries, however large the store."""
        where: list[str] = []
        args: list[Any] = []
        if before is not None:
            where.append("(created_at < ? OR (created_at = ? AND task_hash < ?))")
            args += [before[0], before[0], before[1]]
        if statuses is not None:
            wanted = [TaskStatus(s).value for s in statuses]
            where.append(f"status IN ({', '.join('?' for _ in wanted)})")
            args += wanted
        sql = "SELECT * FROM tasks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, task_hash DESC LIMIT ?"
        args.append(int(limit))

        def op(conn: sqlite3.Connection) -> list[tuple[TaskRow, list[VoteRow]]]:
            rows = [TaskRow.from_sql(r) for r in conn.execute(sql, args)]
            if not rows:
                return []
            hashes = [row.task_hash for row in rows]
            votes: dict[bytes, list[VoteRow]] = {h: [] for h in hashes}
            found = conn.execute(
                f"SELECT * FROM votes WHERE task_hash IN ({', '.join('?' for _ in hashes)}) ORDER BY operator_id",
                hashes,
            )
            for vote in found:
                row = VoteRow.from_sql(vote)
                votes[row.task_hash].append(row)
            return [(row, votes[row.task_hash]) for row in rows]

        return await self._submit(op)

    async def counts(self) -> dict[str, int]:
        """Tasks per status (every status present, zero included)."""

        def op(conn: sqlite3.Connection) -> dict[str, int]:
            found = dict(conn.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status").fetchall())
            return {status.value: int(found.get(status.value, 0)) for status in TaskStatus}

        return await self._submit(op)


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring a store written by an older version up to this one's schema (columns added in place)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(tasks)")}
    for name, kind in (("landed_block_hash", "BLOB"), ("final_at", "REAL")):
        if columns and name not in columns:
            conn.execute(f"ALTER TABLE tasks ADD COLUMN {name} {kind}")
    if columns and version < 3:  # landed before finality was tracked: taken as final
        conn.execute("UPDATE tasks SET final_at = updated_at WHERE status = 'landed' AND final_at IS NULL")


def _keep_transaction(conn: sqlite3.Connection, task_hash: bytes, tx_hash: bytes, nonce: int, raw: bytes) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO transactions (tx_hash, task_hash, nonce, raw_tx, created_at) VALUES (?, ?, ?, ?, ?)",
        (tx_hash, task_hash, int(nonce), raw, time.time()),
    )


def _forget_transactions(conn: sqlite3.Connection, task_hash: bytes) -> None:
    """The task settled (or its transactions are known dead): its kept transactions go."""
    conn.execute("DELETE FROM transactions WHERE task_hash = ?", (task_hash,))


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def _settle_all(results: list[tuple[asyncio.Future, Any, BaseException | None]]) -> None:
    for future, value, error in results:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def _log_unretrieved(future: asyncio.Future) -> None:
    # A write nobody awaits must still not fail silently.
    if future.cancelled():
        return
    error = future.exception()
    if error is not None:
        logger.error("tasks db write failed: %s: %s", type(error).__name__, error)
