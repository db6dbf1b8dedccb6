"""Who may ask an attester for a vote or relay it a message (``attester/gate.py``), over HTTP.

Each refusal leaves no vote recorded and the Validation Service not asked; the requests are signed
(or not) as an aggregator would sign them (``auth_headers``).
"""

# ruff: noqa: F401, F811  (the fixtures of test_node.py, imported to be used by name)

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp
import pytest
import requests

from othentic_offchain.crypto.auth import ATTEST_REQUEST_TAG
from othentic_offchain.nodes.attester.node import AttesterNode
from othentic_offchain.nodes.common.protocol import (
    ATTEST_PATH,
    MAX_ATTEST_BODY_BYTES,
    MAX_PROOF_OF_TASK_LENGTH,
    SIGNATURE_HEADER,
    SIGNER_HEADER,
    auth_headers,
)
from tests.offchain.nodes.attester.test_node import (  # fixtures and helpers
    aggregator,
    assert_refused,
    attest_body,
    attest_headers,
    attester,
    judge,
    message_headers,
    node_factory,
    operator,
    performer,
    post,
    unique_proof,
)
from tests.offchain.nodes.node_harness import HTTP_TIMEOUT, Devnet, Operator, metric


def task_hash_of(body: dict) -> bytes:
    return bytes.fromhex(body["taskHash"][2:])


def assert_nothing_recorded_nor_asked(node: AttesterNode, judge, body: dict) -> None:
    assert node.store.get(task_hash_of(body)) is None
    assert judge.calls[body["task"]["proofOfTask"]] == 0


# -- attest requests --------------------------------------------------------------------------------


def test_a_request_signed_by_an_active_operator_gets_a_vote(devnet, attester, aggregator, performer, judge):
    body = attest_body(devnet, performer, unique_proof())
    answer = post(attester, body, key=aggregator.key)
    assert answer.status_code == 200, answer.text
    assert attester.store.get(task_hash_of(body)) is not None
    assert judge.calls[body["task"]["proofOfTask"]] == 1


def test_an_unsigned_request_is_refused_as_unauthenticated(devnet, attester, performer, judge):
    body = attest_body(devnet, performer, unique_proof())
    assert_refused(post(attester, body, key=None), 401, "unauthenticated", SIGNER_HEADER)
    assert_nothing_recorded_nor_asked(attester, judge, body)


def test_a_signature_that_is_not_the_claimed_signers_is_refused(devnet, attester, aggregator, performer, judge):
    body = attest_body(devnet, performer, unique_proof())
    stranger = devnet.new_operator()
    headers = {**attest_headers(body, stranger.key), SIGNER_HEADER: aggregator.address}
    answer = requests.post(attester.url + ATTEST_PATH, json=body, headers=headers, timeout=HTTP_TIMEOUT)
    assert_refused(answer, 401, "unauthenticated", stranger.address, aggregator.address)
    assert_nothing_recorded_nor_asked(attester, judge, body)


def test_a_signature_of_another_task_is_refused(devnet, attester, aggregator, performer, judge):
    """Headers captured from one request do not carry another."""
    signed = attest_body(devnet, performer, unique_proof())
    body = attest_body(devnet, performer, unique_proof())
    headers = attest_headers(signed, aggregator.key)
    answer = requests.post(attester.url + ATTEST_PATH, json=body, headers=headers, timeout=HTTP_TIMEOUT)
    assert_refused(answer, 401, "unauthenticated", "recovers to")
    assert_nothing_recorded_nor_asked(attester, judge, body)


def test_a_malformed_signature_is_refused(devnet, attester, aggregator, performer, judge):
    body = attest_body(devnet, performer, unique_proof())
    headers = {SIGNER_HEADER: aggregator.address, SIGNATURE_HEADER: "0x1234"}
    answer = requests.post(attester.url + ATTEST_PATH, json=body, headers=headers, timeout=HTTP_TIMEOUT)
    assert_refused(answer, 401, "unauthenticated", "65 bytes")
    assert_nothing_recorded_nor_asked(attester, judge, body)


def test_a_request_signed_by_a_non_operator_is_refused(devnet, attester, performer, judge):
    stranger = devnet.new_operator()
    body = attest_body(devnet, performer, unique_proof())
    assert_refused(post(attester, body, key=stranger.key), 403, "not_an_aggregator", stranger.address)
    assert_nothing_recorded_nor_asked(attester, judge, body)


def test_a_request_signed_by_an_exited_operator_is_refused(devnet, node_factory, operator, performer, judge):
    leaver = devnet.register()
    devnet.avs.sender(leaver.key).send(devnet.avs.center.functions.leave())
    node = node_factory(operator, judge.url)  # a fresh view of the chain: the exit is known
    body = attest_body(devnet, performer, unique_proof())
    assert_refused(post(node, body, key=leaver.key), 403, "not_an_aggregator", leaver.address, "not an active")
    assert_nothing_recorded_nor_asked(node, judge, body)


def test_a_request_signed_by_the_tasks_performer_is_refused(devnet, attester, performer, judge):
    """The early-locking attack: a performer asking first would fix the attester's side."""
    body = attest_body(devnet, performer, unique_proof())
    assert_refused(post(attester, body, key=performer.key), 403, "aggregator_is_performer", performer.address)
    assert_nothing_recorded_nor_asked(attester, judge, body)


def test_an_attester_that_allows_it_answers_the_tasks_performer(devnet, node_factory, operator, performer, judge):
    node = node_factory(operator, judge.url, allow_performer_as_aggregator=True)
    answer = post(node, attest_body(devnet, performer, unique_proof()), key=performer.key)
    assert answer.status_code == 200, answer.text


def test_a_task_of_a_performer_that_is_not_an_active_operator_is_refused(devnet, attester, judge):
    outsider = devnet.new_operator()
    body = attest_body(devnet, outsider, unique_proof())
    assert_refused(post(attester, body), 409, "performer_not_active", outsider.address)
    assert_nothing_recorded_nor_asked(attester, judge, body)


def test_an_allowlist_refuses_other_operators_and_answers_its_own(
    devnet,
    node_factory,
    operator,
    aggregator,
    performer,
    judge,
):
    chosen = devnet.register()
    node = node_factory(operator, judge.url, aggregators=(chosen.address.lower(),))
    body = attest_body(devnet, performer, unique_proof())
    assert_refused(post(node, body, key=aggregator.key), 403, "not_an_aggregator", "not one of this attester's")
    assert_nothing_recorded_nor_asked(node, judge, body)
    assert post(node, body, key=chosen.key).status_code == 200


def test_an_oversized_proof_of_task_is_refused_before_it_is_logged(
    devnet,
    node_factory,
    operator,
    performer,
    judge,
    caplog,
):
    node = node_factory(operator, judge.url, name="attester-gate-logs")
    proof = unique_proof() + "x" * MAX_PROOF_OF_TASK_LENGTH
    body = attest_body(devnet, performer, proof)
    with caplog.at_level("INFO", logger="othentic.attester-gate-logs"):
        answer = post(node, body)
    assert_refused(answer, 413, "too_large", "proofOfTask", str(MAX_PROOF_OF_TASK_LENGTH))
    assert_nothing_recorded_nor_asked(node, judge, body)
    assert all(proof not in record.getMessage() for record in caplog.records)
    assert [r.fields["step"] for r in caplog.records if r.name == "othentic.attester-gate-logs"] == ["task.refused"]


def test_a_long_proof_within_the_limit_is_logged_cut_short(devnet, node_factory, operator, performer, judge, caplog):
    node = node_factory(operator, judge.url, name="attester-gate-clip")
    proof = unique_proof() + "y" * 900
    with caplog.at_level("INFO", logger="othentic.attester-gate-clip"):
        assert post(node, attest_body(devnet, performer, proof)).status_code == 200
    received = [r.fields for r in caplog.records if r.name == "othentic.attester-gate-clip"][0]
    assert received["step"] == "task.received"
    assert len(received["proof_of_task"]) < 200 and f"({len(proof)} characters)" in received["proof_of_task"]


def test_an_oversized_body_is_refused_without_being_read_whole(attester):
    answer = post(attester, b"{" + b" " * MAX_ATTEST_BODY_BYTES + b"}")
    assert_refused(answer, 413, "too_large", str(MAX_ATTEST_BODY_BYTES))


def test_requests_beyond_a_signers_rate_are_refused_and_leave_no_vote(
    devnet,
    node_factory,
    operator,
    aggregator,
    performer,
    judge,
):
    other = devnet.register()  # registered before the node starts: its chain view knows it
    node = node_factory(operator, judge.url, signer_rate=0.001, signer_burst=2)
    bodies = [attest_body(devnet, performer, unique_proof()) for _ in range(3)]
    answers = [post(node, body, key=aggregator.key) for body in bodies]
    assert [a.status_code for a in answers[:2]] == [200, 200]
    assert_refused(answers[2], 429, "rate_limited", aggregator.address)
    assert_nothing_recorded_nor_asked(node, judge, bodies[2])
    assert post(node, bodies[2], key=other.key).status_code == 200  # another signer has its own bucket


def test_a_burst_from_one_address_is_refused_before_signatures_are_checked(
    loop,
    devnet,
    node_factory,
    operator,
    performer,
    judge,
):
    node = node_factory(operator, judge.url, peer_rate=0.001, peer_burst=3)
    bodies = [attest_body(devnet, performer, unique_proof()) for _ in range(6)]

    async def burst() -> list[tuple[int, dict]]:
        async with aiohttp.ClientSession() as session:

            async def one(body: dict) -> tuple[int, dict]:
                async with session.post(node.url + ATTEST_PATH, json=body) as answer:  # unsigned garbage
                    return answer.status, await answer.json()

            return await asyncio.gather(*(one(b) for b in bodies))

    answers = loop.run(burst())
    codes = sorted(body["error"] for _, body in answers)
    assert codes == ["rate_limited"] * 3 + ["unauthenticated"] * 3
    assert metric(node, "othentic_attester_refusals_total", reason="rate_limited") == 3
    for body in bodies:
        assert_nothing_recorded_nor_asked(node, judge, body)


def test_a_request_for_another_center_signed_for_it_is_refused_as_wrong_center(devnet, attester, aggregator, performer):
    other = "0x000000000000000000000000000000000000dEaD"
    body = attest_body(devnet, performer, unique_proof(), attestationCenter=other)
    headers = auth_headers(aggregator.key, ATTEST_REQUEST_TAG, devnet.chain_id, other, task_hash_of(body))
    answer = requests.post(attester.url + ATTEST_PATH, json=body, headers=headers, timeout=HTTP_TIMEOUT)
    assert_refused(answer, 400, "wrong_center", other)


# -- relayed messages -------------------------------------------------------------------------------


def test_a_message_signed_by_an_active_operator_is_relayed(attester, aggregator, judge):
    answer = post(attester, {"data": "0xabcdef01"}, path="/p2p/message", key=aggregator.key)
    assert answer.status_code == 200, answer.text
    assert judge.messages[-1] == bytes.fromhex("abcdef01")


@pytest.mark.parametrize(
    ("signer", "status", "code", "fragment"),
    [
        ("none", 401, "unauthenticated", "not signed"),
        ("stranger", 403, "not_an_aggregator", "not an active operator"),
        ("stale", 401, "unauthenticated", "the limit is 60 s"),
        ("future", 401, "unauthenticated", "the limit is 60 s"),
    ],
)
def test_a_message_not_signed_freshly_by_an_operator_is_not_relayed(
    devnet: Devnet,
    attester,
    aggregator: Operator,
    judge,
    signer,
    status,
    code,
    fragment,
):
    payload = {"data": "0x" + signer.encode().hex()}
    before = len(judge.messages)
    if signer == "none":
        answer = post(attester, payload, path="/p2p/message", key=None)
    elif signer == "stranger":
        answer = post(attester, payload, path="/p2p/message", key=devnet.new_operator().key)
    else:
        shift = -120 if signer == "stale" else 120
        answer = post(attester, payload, path="/p2p/message", key=aggregator.key, timestamp=int(time.time()) + shift)
    assert_refused(answer, status, code, fragment)
    assert len(judge.messages) == before


def test_a_message_signed_for_another_body_is_not_relayed(attester, aggregator, judge):
    before = len(judge.messages)
    headers = {
        "Content-Type": "application/json",
        **message_headers(attester, json.dumps({"data": "0x01"}).encode(), aggregator.key),
    }
    answer = requests.post(
        attester.url + "/p2p/message", data=json.dumps({"data": "0x02"}), headers=headers, timeout=HTTP_TIMEOUT
    )
    assert_refused(answer, 401, "unauthenticated", "recovers to")
    assert len(judge.messages) == before


def test_an_oversized_message_is_refused(attester, judge, caplog):
    before = len(judge.messages)
    with caplog.at_level(logging.INFO):
        answer = post(attester, {"data": "0x" + "00" * 40_000}, path="/p2p/message")
    assert_refused(answer, 413, "too_large")
    assert len(judge.messages) == before
