"""othentic_offchain.nodes.performer.outbox: the performer's SQLite record of signed tasks (no chain)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.nodes.performer.outbox import Outbox, OutboxError

CENTER = "0x5FC8d32690cc91D4c39d9d3abcBD16989F875707"
OTHER_CENTER = "0xa513E6E4b8f2a923D98304ec87F64353C4D5C853"
CHAIN = 31337
PERFORMER = "0x" + "11" * 20
SIGNATURE = b"\x22" * 65


def task(n: int) -> TaskInfo:
    return TaskInfo(f"proof-{n}", b"data-%d" % n, PERFORMER, 0)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite3"


@pytest.fixture
def outbox(path: Path):
    with Outbox(path, CENTER, CHAIN) as opened:
        yield opened


def test_opening_creates_the_file_in_wal_mode(path):
    with Outbox(path, CENTER, CHAIN):
        pass
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1


def test_an_added_task_is_pending_due_now_and_kept_whole(outbox):
    before = time.time()
    entry = outbox.add(task(1), SIGNATURE, "demand", deadline=before + 60)
    assert entry.pending and entry.attempts == 0
    assert entry.task == task(1) and entry.signature == SIGNATURE and entry.trigger == "demand"
    assert entry.task_hash == task(1).task_hash()
    assert [e.task_hash for e in outbox.due(time.time())] == [entry.task_hash]
    count, oldest = outbox.depth()
    assert count == 1 and oldest is not None and before <= oldest <= time.time()


def test_pending_tasks_survive_closing_and_reopening(path):
    with Outbox(path, CENTER, CHAIN) as first:
        first.add(task(1), SIGNATURE, "demand", deadline=time.time() + 60)
    with Outbox(path, CENTER, CHAIN) as again:
        entry = again.get(task(1).task_hash())
        assert entry is not None and entry.pending and entry.signature == SIGNATURE


def test_a_failed_round_counts_and_schedules_the_next(outbox):
    entry = outbox.add(task(1), SIGNATURE, "demand", deadline=time.time() + 60)
    later = time.time() + 30
    assert outbox.retry_at(entry.task_hash, later, "aggregator at http://x: refused", -32029) == 1
    assert outbox.due(time.time()) == []
    assert outbox.next_due() == pytest.approx(later)
    kept = outbox.get(entry.task_hash)
    assert kept is not None and (kept.attempts, kept.error, kept.error_code) == (
        1,
        "aggregator at http://x: refused",
        -32029,
    )
    outbox.due_now()  # a restart: everything pending goes first
    assert [e.task_hash for e in outbox.due(time.time())] == [entry.task_hash]


def test_settled_entries_leave_the_queue_with_how_they_were_settled(outbox):
    deadline = time.time() + 60
    hashes = [outbox.add(task(n), SIGNATURE, "demand", deadline).task_hash for n in range(3)]
    outbox.accepted(hashes[0], "http://a/", "0x" + hashes[0].hex())
    outbox.refused(hashes[1], "http://b/", "task definition 9 does not exist", -32002)
    outbox.expired(hashes[2], "no aggregator took it")
    assert outbox.depth() == (0, None) and outbox.next_due() is None
    assert outbox.counts() == {"accepted": 1, "refused": 1, "expired": 1}
    accepted, refused, expired = (outbox.get(h) for h in hashes)
    assert accepted is not None and (accepted.status, accepted.aggregator) == ("accepted", "http://a/")
    assert accepted.answer == "0x" + hashes[0].hex() and accepted.finished_at is not None
    assert refused is not None and (refused.status, refused.error_code) == ("refused", -32002)
    assert expired is not None and expired.status == "expired"
    outbox.accepted(hashes[1], "http://a/", True)  # settled is final: a late answer changes nothing
    assert outbox.get(hashes[1]).status == "refused"


def test_the_same_task_again_is_one_entry_kept_to_the_later_deadline_and_pending_again_once_settled(outbox):
    first = outbox.add(task(1), SIGNATURE, "demand", deadline=time.time() + 60)
    outbox.retry_at(first.task_hash, time.time() + 30, "down")
    later = time.time() + 120
    same = outbox.add(task(1), SIGNATURE, "seconds", deadline=later)
    # its delivery goes on, until the later of the two deadlines (the second trigger waits on it too)
    assert (same.attempts, same.trigger, same.deadline) == (1, "demand", later)
    sooner = outbox.add(task(1), SIGNATURE, "seconds", deadline=time.time() + 5)
    assert sooner.deadline == later
    outbox.accepted(first.task_hash, "http://a/", True)
    again = outbox.add(task(1), SIGNATURE, "seconds", deadline=time.time() + 120)
    assert again.pending and (again.attempts, again.trigger, again.aggregator) == (0, "seconds", None)
    assert outbox.depth()[0] == 1


def test_due_entries_come_oldest_first(outbox):
    deadline = time.time() + 60
    hashes = [outbox.add(task(n), SIGNATURE, "demand", deadline).task_hash for n in (3, 1, 2)]
    assert [e.task_hash for e in outbox.due(time.time())] == hashes


def test_entries_are_scoped_to_one_center_and_chain(path):
    with Outbox(path, CENTER, CHAIN) as here:
        here.add(task(1), SIGNATURE, "demand", deadline=time.time() + 60)
    with Outbox(path, OTHER_CENTER, CHAIN) as other_center, Outbox(path, CENTER, 1) as other_chain:
        for other in (other_center, other_chain):
            assert other.depth() == (0, None)
            assert other.due(time.time()) == [] and other.get(task(1).task_hash()) is None


def test_a_file_of_another_schema_version_is_refused(path):
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=7")
    db.close()
    with pytest.raises(OutboxError, match="schema version 7"):
        Outbox(path, CENTER, CHAIN)


def test_a_file_that_is_not_sqlite_is_refused_clearly(path):
    path.write_bytes(b"this is not a database, just some bytes " * 100)
    with pytest.raises(OutboxError, match="cannot open the performer's outbox"):
        Outbox(path, CENTER, CHAIN)


def test_a_closed_outbox_says_so(path):
    outbox = Outbox(path, CENTER, CHAIN)
    outbox.close()
    outbox.close()  # idempotent
    with pytest.raises(OutboxError, match="closed"):
        outbox.depth()


def test_a_folder_where_the_file_should_be_is_refused_clearly(tmp_path):
    with pytest.raises(OutboxError, match="cannot open the performer's outbox"):
        Outbox(tmp_path, CENTER, CHAIN)
