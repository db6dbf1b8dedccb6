"""othentic_offchain.nodes.aggregator.store: the aggregator's task store.

What matters: a state change is durable once its future resolves (a crash right after loses
nothing), writes queued together commit together, one bad write does not undo its neighbours,
and a restart can read back exactly what happened.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.nodes.aggregator.store import TasksDB, TasksDBClosed, TaskStatus

PERFORMER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
SIGNATURE = bytes(range(65))
BIG = 7 * 10**20  # stakes in wei overflow SQLite's 64-bit integers


def task(n: int = 0) -> TaskInfo:
    return TaskInfo(f"bafkrei-test-{n}", bytes([n % 256]) * 3, PERFORMER, n % 3)


def run(coro):
    return asyncio.run(coro)


def test_insert_then_read_back_every_field(tmp_path: Path):
    async def go():
        db = await TasksDB.open(tmp_path / "t.sqlite3")
        t = task(1)
        assert await db.insert_task(t.task_hash(), t, SIGNATURE) is True
        row = await db.get(t.task_hash())
        await db.close()
        return t, row

    t, row = run(go())
    assert row.task == t
    assert row.performer_signature == SIGNATURE
    assert row.status is TaskStatus.ACCEPTED and row.is_open
    assert row.side is None and row.tx_hash is None and row.attempts == 0
    assert row.created_at > 0 and row.finished_at is None


def test_inserting_a_known_task_is_refused_and_changes_nothing(tmp_path: Path):
    async def go():
        db = await TasksDB.open(tmp_path / "t.sqlite3")
        t = task(2)
        first = await db.insert_task(t.task_hash(), t, SIGNATURE)
        await db.mark_failed(t.task_hash(), "no_quorum")
        second = await db.insert_task(t.task_hash(), t, b"\x00" * 65)
        row = await db.get(t.task_hash())
        await db.close()
        return first, second, row

    first, second, row = run(go())
    assert (first, second) == (True, False)
    assert row.status is TaskStatus.FAILED and row.performer_signature == SIGNATURE


def test_full_life_of_a_task_submission_then_landed(tmp_path: Path):
    async def go():
        db = await TasksDB.open(tmp_path / "t.sqlite3")
        t = task(3)
        h = t.task_hash()
        await db.insert_task(h, t, SIGNATURE)
        db.set_collecting(h, total_power=BIG)
        await db.record_submission(
            h,
            side=True,
            tx_hash=b"\x11" * 32,
            raw_tx=b"raw-bytes",
            nonce=41,
            non_signers=[9, 3],
            approve_power=BIG - 1,
            reject_power=5,
            total_power=BIG,
        )
        submitting = await db.get(h)
        await db.mark_landed(h, task_number=12, side=True, block=99)
        landed = await db.get(h)
        opened = await db.open_tasks()
        await db.close()
        return submitting, landed, opened

    submitting, landed, opened = run(go())
    assert submitting.status is TaskStatus.SUBMITTING
    assert (submitting.tx_hash, submitting.raw_tx, submitting.tx_nonce) == (b"\x11" * 32, b"raw-bytes", 41)
    assert submitting.non_signers == (3, 9) and submitting.attempts == 1
    assert (submitting.approve_power, submitting.reject_power, submitting.total_power) == (BIG - 1, 5, BIG)
    assert landed.status is TaskStatus.LANDED and landed.task_number == 12 and landed.landed_block == 99
    assert landed.tx_hash == b"\x11" * 32  # kept: the landing transaction
    assert landed.finished_at is not None
    assert opened == []


def test_a_finished_task_cannot_be_submitted_or_failed_again(tmp_path: Path):
    async def go():
        db = await TasksDB.open(tmp_path / "t.sqlite3")
        t = task(4)
        h = t.task_hash()
        await db.insert_task(h, t, SIGNATURE)
        await db.mark_landed(h, task_number=1, side=False)
        with pytest.raises(LookupError):
            await db.record_submission(
                h,
                side=True,
                tx_hash=b"\x01" * 32,
                raw_tx=b"r",
                nonce=0,
                non_signers=[],
                approve_power=0,
                reject_power=0,
                total_power=0,
            )
        await db.mark_failed(h, "late")
        await db.set_collecting(h)
        row = await db.get(h)
        await db.close()
        return row

    row = run(go())
    assert row.status is TaskStatus.LANDED and row.side is False and row.error is None


def test_set_collecting_forgets_a_dead_transaction(tmp_path: Path):
    async def go():
        db = await TasksDB.open(tmp_path / "t.sqlite3")
        t = task(5)
        h = t.task_hash()
        await db.insert_task(h, t, SIGNATURE)
        await db.record_submission(
            h,
            side=True,
            tx_hash=b"\x02" * 32,
            raw_tx=b"r",
            nonce=3,
            non_signers=[],
            approve_power=1,
            reject_power=0,
            total_power=1,
        )
        await db.set_collecting(h)
        row = await db.get(h)
        await db.close()
        return row

    row = run(go())
    assert row.status is TaskStatus.COLLECTING
    assert (row.tx_hash, row.raw_tx, row.tx_nonce) == (None, None, None)
    assert row.attempts == 1


def test_votes_are_stored_replaced_and_marked_invalid(tmp_path: Path):
    big_word = 2**255 + 12345

    async def go():
        db = await TasksDB.open(tmp_path / "t.sqlite3")
        t = task(6)
        h = t.task_hash()
        await db.insert_task(h, t, SIGNATURE)
        db.record_vote(h, 3, True, (1, 2))
        db.record_vote(h, 1, False, (big_word, 7))
        db.record_vote(h, 3, True, (5, 6))  # asked again: the latest answer counts
        await db.mark_votes_invalid(h, [1])
        votes = await db.votes(h)
        await db.close()
        return votes

    votes = run(go())
    assert [(v.operator_id, v.is_approved, v.signature, v.valid) for v in votes] == [
        (1, False, (big_word, 7), False),
        (3, True, (5, 6), None),
    ]


def test_open_tasks_lists_unfinished_tasks_oldest_first(tmp_path: Path):
    async def go():
        db = await TasksDB.open(tmp_path / "t.sqlite3")
        hashes = []
        for n in range(5):
            t = task(10 + n)
            hashes.append(t.task_hash())
            await db.insert_task(t.task_hash(), t, SIGNATURE)
        await db.mark_landed(hashes[1], task_number=1, side=True)
        await db.mark_failed(hashes[3], "expired")
        await db.set_collecting(hashes[4])
        opened = await db.open_tasks()
        counts = await db.counts()
        await db.close()
        return hashes, opened, counts

    hashes, opened, counts = run(go())
    assert [r.task_hash for r in opened] == [hashes[0], hashes[2], hashes[4]]
    assert counts == {"accepted": 2, "collecting": 1, "submitting": 0, "landed": 1, "failed": 1}


def test_concurrent_writes_are_group_committed(tmp_path: Path):
    async def go():
        db = await TasksDB.open(tmp_path / "t.sqlite3")
        tasks = [task(100 + n) for n in range(200)]
        results = await asyncio.gather(*(db.insert_task(t.task_hash(), t, SIGNATURE) for t in tasks))
        commits = db.commits
        count = (await db.counts())["accepted"]
        await db.close()
        return results, commits, count

    results, commits, count = run(go())
    assert all(results) and count == 200
    assert commits < 50  # 200 writes, far fewer transactions


def test_one_failing_write_does_not_undo_the_others_in_its_batch(tmp_path: Path):
    async def go():
        db = await TasksDB.open(tmp_path / "t.sqlite3")
        good = task(7)
        unknown = task(8).task_hash()
        first = db.insert_task(good.task_hash(), good, SIGNATURE)
        bad = db.record_submission(
            unknown,
            side=True,
            tx_hash=b"\x03" * 32,
            raw_tx=b"r",
            nonce=0,
            non_signers=[],
            approve_power=0,
            reject_power=0,
            total_power=0,
        )
        vote_for_unknown = db.record_vote(unknown, 1, True, (1, 1))  # foreign key: no such task
        last = db.mark_failed(good.task_hash(), "no_quorum")
        outcomes = await asyncio.gather(first, bad, vote_for_unknown, last, return_exceptions=True)
        row = await db.get(good.task_hash())
        await db.close()
        return outcomes, row

    outcomes, row = run(go())
    assert outcomes[0] is True and outcomes[3] is None
    assert isinstance(outcomes[1], LookupError)
    assert isinstance(outcomes[2], sqlite3.IntegrityError)
    assert row.status is TaskStatus.FAILED and row.error == "no_quorum"


def test_a_crash_right_after_a_write_resolved_loses_nothing(tmp_path: Path):
    path = tmp_path / "crash.sqlite3"
    script = textwrap.dedent(f"""
        import asyncio, os
        from othentic_offchain.chain.types import TaskInfo
        from othentic_offchain.nodes.aggregator.store import TasksDB

        async def main():
            db = await TasksDB.open({str(path)!r})
            t = TaskInfo("crash-proof", b"\\x01", {PERFORMER!r}, 0)
            await db.insert_task(t.task_hash(), t, bytes(65))
            await db.record_submission(t.task_hash(), side=True, tx_hash=b"\\x09" * 32, raw_tx=b"signed",
                                       nonce=5, non_signers=[2], approve_power=3, reject_power=0, total_power=4)
            os._exit(0)  # no close, no checkpoint: as if killed

        asyncio.run(main())
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)

    async def go():
        db = await TasksDB.open(path)
        opened = await db.open_tasks()
        await db.close()
        return opened

    (row,) = run(go())
    assert row.proof_of_task == "crash-proof"
    assert row.status is TaskStatus.SUBMITTING and row.raw_tx == b"signed" and row.tx_nonce == 5


def test_database_uses_wal_and_survives_reopening(tmp_path: Path):
    path = tmp_path / "t.sqlite3"

    async def write():
        db = await TasksDB.open(path)
        t = task(9)
        await db.insert_task(t.task_hash(), t, SIGNATURE)
        await db.close()
        return t.task_hash()

    async def read(h):
        db = await TasksDB.open(path)
        row = await db.get(h)
        await db.close()
        return row

    h = run(write())
    assert run(read(h)).status is TaskStatus.ACCEPTED
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_closed_store_refuses_writes(tmp_path: Path):
    async def go():
        db = await TasksDB.open(tmp_path / "t.sqlite3")
        await db.close()
        t = task(1)
        with pytest.raises(TasksDBClosed):
            db.insert_task(t.task_hash(), t, SIGNATURE)

    run(go())


def test_bad_synchronous_setting_is_refused():
    async def go():
        with pytest.raises(ValueError):
            TasksDB("unused.sqlite3", synchronous="sometimes")

    run(go())


def test_every_transaction_of_a_task_is_kept_until_it_settles(tmp_path: Path):
    async def go():
        db = await TasksDB.open(tmp_path / "t.sqlite3")
        t = task(6)
        h = t.task_hash()
        await db.insert_task(h, t, SIGNATURE)
        await db.record_submission(
            h,
            side=True,
            tx_hash=b"\x03" * 32,
            raw_tx=b"first",
            nonce=7,
            non_signers=[],
            approve_power=1,
            reject_power=0,
            total_power=1,
        )
        await db.record_replacement(h, tx_hash=b"\x04" * 32, raw_tx=b"second", nonce=7)
        with pytest.raises(LookupError, match="not submitting on nonce 8"):
            await db.record_replacement(h, tx_hash=b"\x05" * 32, raw_tx=b"other", nonce=8)
        kept = await db.transactions(h, 7)
        row = await db.get(h)
        await db.mark_landed(h, task_number=1, side=True, block=5, tx_hash=b"\x03" * 32)
        landed = await db.get(h)
        after_landing = await db.transactions(h, 7)
        assert await db.mark_final(h, block=5, block_hash=b"\xbb" * 32) is True
        after_final = await db.transactions(h, 7)
        await db.close()
        return kept, row, landed, after_landing, after_final

    kept, row, landed, after_landing, after_final = run(go())
    assert kept == [(b"\x03" * 32, b"first"), (b"\x04" * 32, b"second")]
    assert (row.tx_hash, row.raw_tx, row.tx_nonce, row.attempts) == (b"\x04" * 32, b"second", 7, 1)
    # the replaced transaction is the one that mined: the row now carries its bytes, to send again
    assert (landed.tx_hash, landed.raw_tx, landed.tx_nonce) == (b"\x03" * 32, b"first", 7)
    assert after_landing == kept and not landed.is_final  # kept until final
    assert after_final == []


def _submitted(db: TasksDB, t: TaskInfo, tx: bytes, nonce: int):
    return db.record_submission(
        t.task_hash(),
        side=True,
        tx_hash=tx,
        raw_tx=b"raw-" + tx[:1],
        nonce=nonce,
        non_signers=[],
        approve_power=1,
        reject_power=0,
        total_power=1,
    )


def test_a_landing_final_at_once_forgets_the_transactions_and_cannot_be_reorganised(tmp_path: Path):
    async def go():
        db = await TasksDB.open(tmp_path / "t.sqlite3")
        t = task(11)
        h = t.task_hash()
        await db.insert_task(h, t, SIGNATURE)
        await _submitted(db, t, b"\x07" * 32, 3)
        await db.mark_landed(h, task_number=4, side=True, block=8, tx_hash=b"\x07" * 32, final=True)
        row = await db.get(h)
        kept = await db.transactions(h, 3)
        reopened = await db.reopen_reorganised(h)
        again = await db.mark_final(h, block=8, block_hash=None)
        unfinal = await db.unfinal()
        await db.close()
        return row, kept, reopened, again, unfinal

    row, kept, reopened, again, unfinal = run(go())
    assert row.status is TaskStatus.LANDED and row.is_final and row.final_at is not None
    assert kept == [] and reopened is None and again is False and unfinal == []


def test_a_reorganised_task_goes_back_to_submitting_on_our_landed_transaction_or_to_accepted(tmp_path: Path):
    async def go():
        db = await TasksDB.open(tmp_path / "t.sqlite3")
        ours, theirs = task(12), task(13)
        for t in (ours, theirs):
            await db.insert_task(t.task_hash(), t, SIGNATURE)
        await _submitted(db, ours, b"\x08" * 32, 5)
        await _submitted(db, theirs, b"\x09" * 32, 6)
        await db.mark_landed(ours.task_hash(), task_number=1, side=True, block=20, tx_hash=b"\x08" * 32)
        await db.mark_landed(theirs.task_hash(), task_number=2, side=True, block=21)  # someone else's transaction
        listed = [r.task_hash for r in await db.unfinal()]
        statuses = [await db.reopen_reorganised(t.task_hash()) for t in (ours, theirs)]
        twice = await db.reopen_reorganised(ours.task_hash())
        rows = [await db.get(t.task_hash()) for t in (ours, theirs)]
        kept = await db.transactions(ours.task_hash(), 5)
        opened = [r.task_hash for r in await db.open_tasks()]
        await db.close()
        return listed, statuses, twice, rows, kept, opened

    listed, statuses, twice, (ours, theirs), kept, opened = run(go())
    assert listed == [task(12).task_hash(), task(13).task_hash()]  # lowest landing block first
    assert statuses == [TaskStatus.SUBMITTING, TaskStatus.ACCEPTED] and twice is None
    assert ours.status is TaskStatus.SUBMITTING and (ours.tx_hash, ours.raw_tx, ours.tx_nonce) == (
        b"\x08" * 32,
        b"raw-\x08",
        5,
    )
    assert kept == [(b"\x08" * 32, b"raw-\x08")]  # whichever of its transactions mines settles it
    assert ours.task_number is None and ours.landed_block is None and ours.finished_at is None
    assert "reorganised" in ours.error
    assert theirs.status is TaskStatus.ACCEPTED and theirs.raw_tx is None and theirs.tx_nonce is None
    assert set(opened) == {task(12).task_hash(), task(13).task_hash()}


def test_a_version_2_store_gains_the_finality_columns_and_its_landed_tasks_count_as_final(tmp_path: Path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE tasks (
            task_hash BLOB PRIMARY KEY, proof_of_task TEXT NOT NULL, data BLOB NOT NULL,
            task_definition_id INTEGER NOT NULL, performer TEXT NOT NULL, performer_signature BLOB NOT NULL,
            status TEXT NOT NULL, side INTEGER, approve_power TEXT NOT NULL DEFAULT '0',
            reject_power TEXT NOT NULL DEFAULT '0', total_power TEXT NOT NULL DEFAULT '0', non_signers TEXT,
            tx_hash BLOB, raw_tx BLOB, tx_nonce INTEGER, attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
            task_number INTEGER, landed_block INTEGER, created_at REAL NOT NULL, updated_at REAL NOT NULL,
            finished_at REAL
        ) WITHOUT ROWID;
        PRAGMA user_version=2;
        """
    )
    t = task(14)
    conn.execute(
        "INSERT INTO tasks (task_hash, proof_of_task, data, task_definition_id, performer, performer_signature,"
        " status, task_number, landed_block, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'landed', 3, 9, 1, 2)",
        (t.task_hash(), t.proof_of_task, t.data, t.task_definition_id, t.performer, SIGNATURE),
    )
    conn.commit()
    conn.close()

    async def go():
        db = await TasksDB.open(path)
        row = await db.get(t.task_hash())
        unfinal = await db.unfinal()
        await db.close()
        return row, unfinal

    row, unfinal = run(go())
    assert unfinal == []
    assert row.status is TaskStatus.LANDED and row.is_final and row.landed_block_hash is None
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 3


def test_only_a_failed_task_is_reopened(tmp_path: Path):
    async def go():
        db = await TasksDB.open(tmp_path / "t.sqlite3")
        failed, landed = task(7), task(8)
        for t in (failed, landed):
            await db.insert_task(t.task_hash(), t, SIGNATURE)
        await db.mark_failed(failed.task_hash(), "no_quorum")
        await db.mark_landed(landed.task_hash(), task_number=2, side=True)
        answers = [await db.reopen_failed(failed.task_hash()), await db.reopen_failed(failed.task_hash())]
        answers.append(await db.reopen_failed(landed.task_hash()))
        rows = [await db.get(t.task_hash()) for t in (failed, landed)]
        await db.close()
        return answers, rows

    answers, (reopened, landed) = run(go())
    assert answers == [True, False, False]
    assert reopened.status is TaskStatus.ACCEPTED and reopened.finished_at is None
    assert reopened.error == "no_quorum"  # what happened last time stays visible until it changes
    assert landed.status is TaskStatus.LANDED


def test_recent_pages_newest_first_each_task_once_even_when_they_share_a_timestamp(tmp_path: Path):
    path = tmp_path / "t.sqlite3"
    tasks = [task(n) for n in range(10, 15)]

    async def fill():
        db = await TasksDB.open(path)
        for t in tasks:
            await db.insert_task(t.task_hash(), t, SIGNATURE)
        await db.record_vote(tasks[0].task_hash(), 3, True, (1, 2))
        await db.record_vote(tasks[0].task_hash(), 1, False, (3, 4))
        await db.mark_landed(tasks[1].task_hash(), task_number=1, side=True)
        await db.close()

    run(fill())
    with sqlite3.connect(path) as conn:  # the same second for all but the newest: the hash breaks the tie
        conn.execute("UPDATE tasks SET created_at = 1000.0")
        conn.execute("UPDATE tasks SET created_at = 2000.0 WHERE task_hash = ?", (tasks[4].task_hash(),))

    async def pages():
        db = await TasksDB.open(path)
        seen, before = [], None
        while True:
            page = await db.recent(2, before=before)
            seen += page
            if len(page) < 2:
                break
            before = (page[-1][0].created_at, page[-1][0].task_hash)
        landed = await db.recent(10, statuses=[TaskStatus.LANDED])
        open_ = await db.recent(10, statuses=[TaskStatus.ACCEPTED, TaskStatus.COLLECTING, TaskStatus.SUBMITTING])
        await db.close()
        return seen, landed, open_

    seen, landed, open_ = run(pages())
    hashes = [row.task_hash for row, _votes in seen]
    assert hashes[0] == tasks[4].task_hash()
    assert hashes[1:] == sorted((t.task_hash() for t in tasks[:4]), reverse=True)
    votes = dict((row.task_hash, v) for row, v in seen)[tasks[0].task_hash()]
    assert [(v.operator_id, v.is_approved) for v in votes] == [(1, False), (3, True)]
    assert [row.task_hash for row, _ in landed] == [tasks[1].task_hash()]
    assert {row.task_hash for row, _ in open_} == {t.task_hash() for t in tasks} - {tasks[1].task_hash()}
    with sqlite3.connect(path) as conn:
        plan = " ".join(
            str(r)
            for r in conn.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM tasks ORDER BY created_at DESC, task_hash DESC LIMIT 2"
            )
        )
    assert "tasks_created" in plan and "TEMP B-TREE" not in plan  # the index, no sort of the whole table
