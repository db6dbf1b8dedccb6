"""examples/generic: hash a text; attesters recompute the SHA-256 of the proof.

The proof is either the content a CID names in the proof store (a real one here: a folder served
over HTTP and read through ``ProofStoreClient``), or, when the proof of task is not a CID or no
store is configured, the proof-of-task string itself (what ``othentic task send
--data-sha256-of-proof`` sends).
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from othentic_offchain.avs import Avs, Task
from othentic_offchain.examples.generic.avs import install
from othentic_offchain.proofs import compute_cid
from tests.examples._examples_support import STRANGER, proof_store


def sha256(content: bytes) -> bytes:
    return hashlib.sha256(content).digest()


def task(proof_of_task: str, data: bytes, definition: int = 0) -> Task:
    return Task(proof_of_task=proof_of_task, data=data, task_definition_id=definition, performer=STRANGER)


def generic(proofs=None, definition: int = 0) -> Avs:
    return install(Avs("generic", proofs=proofs), definition)


def test_execute_stores_the_text_and_submits_its_sha256(tmp_path):
    async def scenario():
        async with proof_store(tmp_path) as store:
            result = await generic(store.client).run_execute(0, {"text": "the quick brown fox"})
            return result, await store.client.get(result.proof_of_task)

    result, stored = asyncio.run(scenario())
    assert stored == b"the quick brown fox"
    assert result.proof_of_task == compute_cid(b"the quick brown fox")
    assert result.data == sha256(b"the quick brown fox")


def test_validate_approves_the_hash_of_the_stored_proof_and_rejects_any_other(tmp_path):
    async def scenario():
        async with proof_store(tmp_path) as store:
            avs = generic(store.client)
            result = await avs.run_execute(0, {"text": "hello, AVS"})
            cid = result.proof_of_task
            return [
                await avs.run_validate(task(cid, sha256(b"hello, AVS"))),
                await avs.run_validate(task(cid, sha256(b"hello, avs"))),  # another text's hash
                await avs.run_validate(task(cid, sha256(cid.encode()))),  # the hash of the CID string
                await avs.run_validate(task(cid, sha256(b"hello, AVS")[:31])),  # not 32 bytes
                await avs.run_validate(task(cid, sha256(b"hello, AVS") + b"\x00")),
            ]

    assert asyncio.run(scenario()) == [True, False, False, False, False]


def test_validate_rejects_a_cid_the_store_does_not_hold(tmp_path):
    missing = compute_cid(b"never stored")

    async def scenario():
        async with proof_store(tmp_path) as store:
            avs = generic(store.client)
            return [
                await avs.run_validate(task(missing, sha256(b"never stored"))),
                await avs.run_validate(task(missing, sha256(missing.encode()))),
            ]

    assert asyncio.run(scenario()) == [False, False]


def test_validate_hashes_the_proof_of_task_string_when_it_is_not_a_cid(tmp_path):
    async def scenario():
        async with proof_store(tmp_path) as store:
            avs = generic(store.client)
            return [
                await avs.run_validate(task("hello from a second terminal", sha256(b"hello from a second terminal"))),
                await avs.run_validate(task("hello from a second terminal", sha256(b"hello from a third terminal"))),
                await avs.run_validate(task("", sha256(b""))),
            ]

    assert asyncio.run(scenario()) == [True, False, True]


def test_without_a_proof_store_even_a_cid_is_hashed_as_a_string():
    cid = compute_cid(b"some content")
    avs = generic(proofs=None)

    async def scenario():
        return [
            await avs.run_validate(task(cid, sha256(cid.encode()))),
            await avs.run_validate(task(cid, sha256(b"some content"))),
        ]

    assert asyncio.run(scenario()) == [True, False]


@pytest.mark.parametrize("definition", [0, 7])
def test_install_serves_the_definition_it_is_given(definition):
    avs = generic(definition=definition)
    assert avs.execute_ids == [definition] and avs.validate_ids == [definition]
    assert asyncio.run(avs.run_validate(task("x", sha256(b"x"), definition))) is True
