"""The local proof store: content addressing, integrity on read, atomic writes, shared folders."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import CID, multihash

from othentic_offchain.proofs import (
    CHUNK_SIZE,
    CidMismatch,
    InvalidCid,
    LocalProofStore,
    ProofNotFound,
    ProofStoreFull,
    ProofTooLarge,
    compute_cid,
    compute_cid_v0,
    parse_cid,
)

ROOT = Path(__file__).resolve().parents[3]
HELLO = b"hello world\n"
HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
HELLO_V1_RAW = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


@pytest.fixture
def store(tmp_path):
    return LocalProofStore(tmp_path / "proofs")


def leftover_temp_files(store: LocalProofStore) -> list[Path]:
    return [p for p in store.folder.rglob("*") if p.name.startswith(".tmp-")]


def test_put_returns_the_raw_cidv1_and_get_returns_the_same_bytes(store):
    cid = store.put(HELLO)
    assert cid == HELLO_V1_RAW
    assert store.get(cid) == HELLO
    assert store.path_for(cid).read_bytes() == HELLO


def test_empty_proof_can_be_stored_and_read(store):
    cid = store.put(b"")
    assert store.get(cid) == b""
    assert store.get(compute_cid_v0(b"")) == b""


def test_put_is_idempotent_and_does_not_rewrite_the_file(store):
    cid = store.put(HELLO)
    path = store.path_for(cid)
    before = path.stat()
    time.sleep(0.01)
    assert store.put(HELLO) == cid
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in (store.folder / "blobs").iterdir()) == [cid]


def test_get_rejects_content_that_does_not_match_its_cid(store):
    cid = store.put(HELLO)
    store.path_for(cid).write_bytes(b"hello world?")
    with pytest.raises(CidMismatch, match="corrupted"):
        store.get(cid)
    with pytest.raises(CidMismatch, match="corrupted"):
        store.get(HELLO_V0)


def test_a_truncated_file_is_detected_as_corrupted(store):
    cid = store.put(HELLO)
    store.path_for(cid).write_bytes(HELLO[:5])
    with pytest.raises(CidMismatch):
        store.get(cid)


def test_put_repairs_a_corrupted_file(store):
    cid = store.put(HELLO)
    store.path_for(cid).write_bytes(b"garbage")
    assert store.put(HELLO) == cid
    assert store.get(cid) == HELLO


def test_cidv0_and_dag_pb_cidv1_find_content_stored_under_its_raw_cid(store):
    store.put(HELLO)
    dag_pb_v1 = str(parse_cid(HELLO_V0).set(version=1, base="base32"))
    assert store.get(HELLO_V0) == HELLO
    assert store.get(dag_pb_v1) == HELLO
    assert store.get(f"ipfs://{HELLO_V0}") == HELLO
    assert store.path_for(HELLO_V0) == store.path_for(HELLO_V1_RAW)
    assert store.has(HELLO_V0) and store.has(dag_pb_v1)


def test_raw_cid_in_another_base_maps_to_the_same_file(store):
    store.put(HELLO)
    base58 = str(parse_cid(HELLO_V1_RAW).set(base="base58btc"))
    assert store.path_for(base58) == store.path_for(HELLO_V1_RAW)
    assert store.get(base58) == HELLO


def test_a_cidv0_index_entry_pointing_at_other_content_cannot_return_it(store):
    store.put(HELLO)
    other = store.put(b"other proof")
    (store.folder / "cidv0" / HELLO_V0).write_text(other + "\n")
    with pytest.raises(CidMismatch):
        store.get(HELLO_V0)


def test_a_garbled_cidv0_index_entry_is_reported_as_corrupted(store):
    store.put(HELLO)
    (store.folder / "cidv0" / HELLO_V0).write_bytes(b"\xff\xfe not a cid")
    with pytest.raises(CidMismatch, match="index entry"):
        store.get(HELLO_V0)


def test_unknown_cids_raise_proof_not_found(store):
    with pytest.raises(ProofNotFound):
        store.get(HELLO_V1_RAW)
    with pytest.raises(ProofNotFound):
        store.get(HELLO_V0)
    assert not store.has(HELLO_V1_RAW) and not store.has(HELLO_V0)
    assert HELLO_V1_RAW not in store


def test_put_over_max_size_raises_with_both_sizes_and_writes_nothing(tmp_path):
    small = LocalProofStore(tmp_path, max_size=100)
    with pytest.raises(ProofTooLarge) as info:
        small.put(b"x" * 101)
    assert (info.value.size, info.value.limit) == (101, 100)
    assert "101" in str(info.value) and "100" in str(info.value)
    assert not any((tmp_path / "blobs").iterdir())
    assert small.put(b"x" * 100)


def test_default_limit_is_one_ipfs_chunk(store):
    assert store.max_size == CHUNK_SIZE
    with pytest.raises(ProofTooLarge):
        store.put(b"\0" * (CHUNK_SIZE + 1))


def test_store_with_a_larger_limit_keeps_big_proofs_under_their_raw_cid_only(tmp_path):
    big_store = LocalProofStore(tmp_path, max_size=2 * CHUNK_SIZE)
    content = os.urandom(CHUNK_SIZE + 1)
    cid = big_store.put(content)
    assert big_store.get(cid) == content
    assert not any((tmp_path / "cidv0").iterdir())


def test_has_is_false_for_unsupported_kinds_but_malformed_text_raises(store):
    dag_cbor = str(CID("base32", 1, "dag-cbor", multihash.digest(HELLO, "sha2-256")))
    assert not store.has(dag_cbor)
    with pytest.raises(InvalidCid):
        store.has("definitely not a cid")
    with pytest.raises(InvalidCid):
        store.get("definitely not a cid")


def test_content_reaches_its_name_only_by_renaming_a_complete_file(store, monkeypatch):
    renames = []
    real_replace = os.replace

    def spying_replace(src, dst):
        renames.append((Path(dst).name, Path(src).name, Path(src).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spying_replace)
    content = os.urandom(5000)
    cid = store.put(content)
    blob_renames = [r for r in renames if r[0] == cid]
    assert len(blob_renames) == 1
    _, temp_name, bytes_at_rename = blob_renames[0]
    assert temp_name.startswith(".tmp-") and bytes_at_rename == content
    assert [r[0] for r in renames] == [cid, compute_cid_v0(content)]  # index only after the blob


def test_a_write_that_fails_leaves_neither_a_partial_file_nor_a_temp_file(store, monkeypatch):
    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        store.put(HELLO)
    monkeypatch.undo()
    assert not store.has(HELLO_V1_RAW)
    assert leftover_temp_files(store) == []


def test_stale_temp_files_of_crashed_writers_are_swept_but_fresh_ones_kept(tmp_path):
    LocalProofStore(tmp_path)
    stale = tmp_path / "blobs" / ".tmp-crashed"
    fresh = tmp_path / "blobs" / ".tmp-in-progress"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    LocalProofStore(tmp_path)
    assert not stale.exists() and fresh.exists()


def test_threads_storing_the_same_and_different_proofs_at_once_agree(store):
    contents = [b"shared proof"] * 16 + [f"proof {i}".encode() for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        cids = list(pool.map(store.put, contents))
    assert cids == [compute_cid(c) for c in contents]
    for cid, content in zip(cids, contents):
        assert store.get(cid) == content
    assert leftover_temp_files(store) == []


def test_asyncio_tasks_storing_through_threads_at_once_agree(store):
    async def scenario():
        contents = [os.urandom(1000) for _ in range(10)] * 2
        cids = await asyncio.gather(*(asyncio.to_thread(store.put, c) for c in contents))
        reads = await asyncio.gather(*(asyncio.to_thread(store.get, cid) for cid in cids))
        assert reads == contents

    asyncio.run(scenario())
    assert leftover_temp_files(store) == []


WRITER = """
import sys
from othentic_offchain.proofs import LocalProofStore
store = LocalProofStore(sys.argv[1])
for round in range(30):
    for i in range(5):
        store.put(f"proof {i}".encode() * 100)
    store.put(f"only from {sys.argv[2]}".encode())
"""


def test_processes_writing_the_same_folder_leave_only_whole_files(tmp_path):
    folder = tmp_path / "shared"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(n)], cwd=ROOT) for n in range(3)
    ]
    store = LocalProofStore(folder)
    expected = {f"proof {i}".encode() * 100 for i in range(5)}
    deadline = time.monotonic() + 60
    while any(w.poll() is None for w in writers) and time.monotonic() < deadline:
        for content in expected:  # reading while others write: whole file or nothing
            try:
                assert store.get(compute_cid(content)) == content
            except ProofNotFound:
                pass
    assert [w.wait(timeout=60) for w in writers] == [0, 0, 0]
    expected |= {f"only from {n}".encode() for n in range(3)}
    for content in expected:
        assert store.get(compute_cid(content)) == content
        assert store.get(compute_cid_v0(content)) == content
    assert len(list((folder / "blobs").iterdir())) == len(expected)
    assert leftover_temp_files(store) == []


@given(st.binary(max_size=1024))
@settings(max_examples=30, deadline=None)
def test_whatever_is_put_comes_back_by_either_cid(content):
    with tempfile.TemporaryDirectory() as folder:
        store = LocalProofStore(folder, durable=False)
        cid = store.put(content)
        assert store.get(cid) == content
        assert store.get(compute_cid_v0(content)) == content


def test_the_quota_bounds_the_count_and_the_bytes_and_is_counted_again_at_open(tmp_path):
    store = LocalProofStore(tmp_path, durable=False, max_total_bytes=1000, max_proofs=3)
    store.put(b"a" * 400)
    store.put(b"b" * 400)
    with pytest.raises(ProofStoreFull, match=r"800 bytes stored, 400 more would pass its limit \(max_total_bytes\) of 1000"):
        store.put(b"c" * 400)
    assert store.put(b"a" * 400) == compute_cid(b"a" * 400)  # already held: no new bytes
    store.put(b"d")
    with pytest.raises(ProofStoreFull, match=r"holds 3 proofs, its limit \(max_proofs\) is 3"):
        store.put(b"e")
    reopened = LocalProofStore(tmp_path, durable=False, max_total_bytes=1000, max_proofs=4)
    assert (reopened.total_bytes, reopened.proof_count) == (801, 3)
    reopened.put(b"e")
    with pytest.raises(ProofStoreFull):
        reopened.put(b"f")

