"""VoteStore: the attester's SQLite record of the votes it signed.

What matters: the first vote recorded for a task is the one that stands, for every caller, across
threads, connections and reopenings of the file; and the file is durable (WAL, synchronous=FULL).
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
from pathlib import Path

import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from othentic_offchain.nodes.attester.votes import SCHEMA_VERSION, VoteStore, VoteStoreError

CENTER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OTHER_CENTER = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
CHAIN = 31337


def th(label: str) -> bytes:
    return keccak(text=label)


def sig(n: int) -> tuple[int, int]:
    return (n, n + 1)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "votes" / "attester.sqlite3"


@pytest.fixture
def store(db_path: Path):
    with VoteStore(db_path, CENTER, CHAIN) as opened:
        yield opened


def test_opening_creates_the_file_the_schema_and_wal_mode(db_path):
    with VoteStore(db_path, CENTER, CHAIN):
        pass
    assert db_path.is_file()
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = {row[1] for row in db.execute("PRAGMA table_info(votes)")}
    finally:
        db.close()
    assert {"task_hash", "is_approved", "signature", "operator_id", "attestation_center", "chain_id"} <= columns


def test_first_vote_is_created_and_returned(store):
    vote = store.record_or_get(
        th("a"),
        True,
        sig(5),
        3,
        task_definition_id=2,
        proof_of_task="cid",
        performer="0x5B38Da6a701c568545dCfcB03FcB875f56beddC4",
    )
    assert vote.created
    assert (vote.task_hash, vote.is_approved, vote.signature, vote.operator_id) == (th("a"), True, sig(5), 3)
    assert (vote.task_definition_id, vote.proof_of_task) == (2, "cid")
    assert vote.recorded_at > 0


def test_a_later_vote_on_the_same_task_gets_the_first_one_back(store):
    first = store.record_or_get(th("a"), True, sig(5), 3)
    second = store.record_or_get(th("a"), False, sig(9), 3)
    assert not second.created
    assert (second.is_approved, second.signature) == (True, sig(5))
    assert second.recorded_at == first.recorded_at


def test_get_answers_none_for_unknown_tasks_and_the_vote_for_known_ones(store):
    assert store.get(th("nothing")) is None
    store.record_or_get(th("b"), False, sig(7), 1)
    got = store.get(th("b"))
    assert got is not None and not got.created
    assert (got.is_approved, got.signature) == (False, sig(7))


def test_count_counts_all_votes_or_one_side(store):
    assert store.count() == 0
    store.record_or_get(th("1"), True, sig(1), 1)
    store.record_or_get(th("2"), False, sig(2), 1)
    store.record_or_get(th("3"), True, sig(3), 1)
    store.record_or_get(th("3"), False, sig(4), 1)  # not a new vote
    assert (store.count(), store.count(True), store.count(False)) == (3, 2, 1)


def test_votes_survive_closing_and_reopening(db_path):
    with VoteStore(db_path, CENTER, CHAIN) as store:
        store.record_or_get(th("kept"), False, sig(11), 4)
    with VoteStore(db_path, CENTER, CHAIN) as store:
        again = store.record_or_get(th("kept"), True, sig(12), 4)
        assert not again.created
        assert (again.is_approved, again.signature) == (False, sig(11))
        assert store.count() == 1


def test_votes_are_scoped_to_one_center_and_chain(db_path):
    """A vote hash binds center and chain: a vote on one deployment never blocks another's."""
    with VoteStore(db_path, CENTER, CHAIN) as here:
        here.record_or_get(th("t"), True, sig(1), 1)
    with VoteStore(db_path, OTHER_CENTER, CHAIN) as other_center, VoteStore(db_path, CENTER, 1) as other_chain:
        assert other_center.get(th("t")) is None
        assert other_chain.get(th("t")) is None
        assert other_center.record_or_get(th("t"), False, sig(2), 1).created
        assert other_center.count() == 1 and other_chain.count() == 0
    with VoteStore(db_path, CENTER.lower(), CHAIN) as same:  # address case does not matter
        assert same.get(th("t")).is_approved is True


def test_racing_threads_on_separate_connections_all_get_the_one_recorded_vote(db_path):
    """Separate VoteStore objects use separate SQLite connections: the same locking as processes."""
    stores = [VoteStore(db_path, CENTER, CHAIN) for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    results = []

    def vote(index: int) -> None:
        barrier.wait()
        results.append(stores[index].record_or_get(th("race"), index % 2 == 0, sig(100 + index), 1))

    threads = [threading.Thread(target=vote, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for opened in stores:
        opened.close()
    assert len(results) == len(stores)
    assert sum(r.created for r in results) == 1
    assert len({(r.is_approved, r.signature) for r in results}) == 1


def test_racing_threads_on_one_store_all_get_the_one_recorded_vote(store):
    barrier = threading.Barrier(6)
    results = []

    def vote(index: int) -> None:
        barrier.wait()
        results.append(store.record_or_get(th("one-store"), index % 2 == 1, sig(index), 1))

    threads = [threading.Thread(target=vote, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(r.created for r in results) == 1
    assert len({(r.is_approved, r.signature) for r in results}) == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.booleans(), st.integers(0, 2**256 - 1)), max_size=30))
def test_the_first_recorded_side_of_every_task_stands(attempts):
    with tempfile.TemporaryDirectory() as folder, VoteStore(Path(folder) / "v.sqlite3", CENTER, CHAIN) as store:
        first: dict[int, tuple[bool, int]] = {}
        for task, side, word in attempts:
            vote = store.record_or_get(th(str(task)), side, (word, 1), 1)
            assert vote.created == (task not in first)
            first.setdefault(task, (side, word))
            assert (vote.is_approved, vote.signature) == (first[task][0], (first[task][1], 1))
        assert store.count() == len(first)


def test_a_task_hash_that_is_not_32_bytes_is_refused(store):
    with pytest.raises(ValueError, match="32 bytes"):
        store.record_or_get(b"\x01" * 31, True, sig(1), 1)
    with pytest.raises(ValueError, match="32 bytes"):
        store.get(b"")


def test_a_signature_word_out_of_range_is_refused(store):
    with pytest.raises(ValueError, match="uint256"):
        store.record_or_get(th("x"), True, (2**256, 1), 1)
    assert store.count() == 0


def test_a_file_of_another_schema_version_is_refused(db_path):
    db_path.parent.mkdir(parents=True)
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(VoteStoreError, match="version 99"):
        VoteStore(db_path, CENTER, CHAIN)


def test_a_file_that_is_not_sqlite_is_refused(db_path):
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(VoteStoreError, match="cannot open"):
        VoteStore(db_path, CENTER, CHAIN)


def test_a_closed_store_says_so(db_path):
    store = VoteStore(db_path, CENTER, CHAIN)
    store.close()
    store.close()  # idempotent
    with pytest.raises(VoteStoreError, match="closed"):
        store.count()


def test_a_corrupted_vote_record_is_refused_at_open_with_a_clear_error(db_path):
    with VoteStore(db_path, CENTER, CHAIN) as opened:
        for n in range(400):
            opened.record_or_get(th(f"task {n}"), True, sig(n), 3)
    raw = bytearray(db_path.read_bytes())
    page = 4096
    raw[2 * page + 200 : 2 * page + 1200] = bytes((n * 37 + 11) % 256 for n in range(1000))  # damage one page
    db_path.write_bytes(raw)
    with pytest.raises(VoteStoreError, match=r"is corrupted \(PRAGMA quick_check: .*\); this attester will not sign"):
        VoteStore(db_path, CENTER, CHAIN)

