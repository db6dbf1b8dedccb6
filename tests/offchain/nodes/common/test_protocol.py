"""othentic_offchain.nodes.common.protocol: the aggregator-attester wire models and the error answer
every node gives, aiohttp's own refusals included (no chain)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak
from pydantic import ValidationError

from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.crypto.auth import ATTEST_REQUEST_TAG, AUTH_TYPES, P2P_MESSAGE_TAG, auth_digest
from othentic_offchain.nodes.common.protocol import (
    MESSAGE_MAX_AGE,
    SIGNATURE_HEADER,
    SIGNER_HEADER,
    TIMESTAMP_HEADER,
    AttestRequest,
    ErrorBody,
    Unauthenticated,
    Vote,
    auth_headers,
    authenticate,
    clip,
    error_response,
    node_app,
    task_info,
    wire_task,
)

PERFORMER = "0x" + "11" * 20
CENTER = "0x" + "22" * 20


def test_error_response_is_an_error_body_with_its_status_and_extra_members():
    response = error_response(409, "not_elected", "operator 2 is not elected", outcome={"block": 7})
    assert response.status == 409 and response.content_type == "application/json"
    body = json.loads(response.body)
    assert body == {"error": "not_elected", "message": "operator 2 is not elected", "outcome": {"block": 7}}
    assert ErrorBody.model_validate(body).error == "not_elected"


def test_a_task_goes_to_the_wire_and_back_unchanged():
    task = TaskInfo("proof", b"\x01\x02", PERFORMER, 3)
    wire = wire_task(task)
    assert wire.to_wire()["data"] == "0x0102"
    back = task_info(wire)
    assert back.task_hash() == task.task_hash()


def test_an_attest_request_refuses_a_boolean_chain_id():
    task = TaskInfo("proof", b"", PERFORMER, 0)
    body = {
        "task": wire_task(task).to_wire(),
        "taskHash": "0x" + task.task_hash().hex(),
        "performerSignature": "0x" + "33" * 65,
        "attestationCenter": CENTER,
        "chainId": 31337,
    }
    assert AttestRequest.model_validate(body).chain_id == 31337
    with pytest.raises(ValidationError, match="boolean"):
        AttestRequest.model_validate({**body, "chainId": True})
    with pytest.raises(ValidationError, match="chainId"):  # signed digests encode it as a uint256
        AttestRequest.model_validate({**body, "chainId": 2**256})


def test_vote_signature_words_travel_as_hex():
    vote = Vote(operator_id=1, task_hash=b"\x00" * 32, is_approved=True, signature=(5, 2**255))
    wire = vote.to_wire()
    assert wire["signature"] == ["0x5", hex(2**255)]
    assert Vote.model_validate(wire).signature == (5, 2**255)
    with pytest.raises(ValidationError, match="uint256"):
        Vote.model_validate({**wire, "signature": ["0x5", hex(2**256)]})


def test_the_aggregator_waits_for_a_vote_longer_than_the_attester_waits_for_its_service():
    from dataclasses import fields

    from othentic_offchain.cli.nodes import aggregator, attester
    from othentic_offchain.nodes.aggregator.config import AggregatorConfig
    from othentic_offchain.nodes.attester.config import AttesterConfig

    def default(config, name):
        return next(f.default for f in fields(config) if f.name == name)

    def cli_default(command, name):
        return next(p.default for p in command.params if p.name == name)

    service = default(AttesterConfig, "service_timeout")
    vote = default(AggregatorConfig, "vote_timeout")
    assert vote >= service + 2, "a slow service's vote must reach the aggregator before it gives up"
    assert cli_default(attester, "service_timeout") == service
    assert cli_default(aggregator, "vote_timeout") == vote
    assert default(AggregatorConfig, "task_timeout") > vote


# -- signed requests ----------------------------------------------------------------------------------

KEY = "0x" + "42" * 32
SUBJECT = bytes(range(32))


def test_signed_headers_authenticate_their_signer():
    headers = auth_headers(KEY, ATTEST_REQUEST_TAG, 31337, CENTER, SUBJECT)
    assert authenticate(headers, ATTEST_REQUEST_TAG, 31337, CENTER, SUBJECT) == Account.from_key(KEY).address
    assert TIMESTAMP_HEADER not in headers


@pytest.mark.parametrize(
    ("tag", "chain_id", "center", "subject"),
    [
        (P2P_MESSAGE_TAG, 31337, CENTER, SUBJECT),
        (ATTEST_REQUEST_TAG, 1, CENTER, SUBJECT),
        (ATTEST_REQUEST_TAG, 31337, PERFORMER, SUBJECT),
        (ATTEST_REQUEST_TAG, 31337, CENTER, bytes(32)),
    ],
    ids=["another-kind", "another-chain", "another-center", "another-subject"],
)
def test_a_signature_does_not_carry_over_to_another_kind_chain_center_or_subject(tag, chain_id, center, subject):
    headers = auth_headers(KEY, ATTEST_REQUEST_TAG, 31337, CENTER, SUBJECT)
    with pytest.raises(Unauthenticated, match="recovers to"):
        authenticate(headers, tag, chain_id, center, subject)


def test_a_timed_request_needs_a_fresh_timestamp():
    now = int(time.time())
    fresh = auth_headers(KEY, P2P_MESSAGE_TAG, 31337, CENTER, SUBJECT, now)
    assert authenticate(fresh, P2P_MESSAGE_TAG, 31337, CENTER, SUBJECT, timed=True)
    stale = auth_headers(KEY, P2P_MESSAGE_TAG, 31337, CENTER, SUBJECT, now - MESSAGE_MAX_AGE - 5)
    with pytest.raises(Unauthenticated, match="the limit is 60 s"):
        authenticate(stale, P2P_MESSAGE_TAG, 31337, CENTER, SUBJECT, timed=True)
    untimed = auth_headers(KEY, P2P_MESSAGE_TAG, 31337, CENTER, SUBJECT)
    with pytest.raises(Unauthenticated, match="needs a timestamp"):
        authenticate(untimed, P2P_MESSAGE_TAG, 31337, CENTER, SUBJECT, timed=True)


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, "not signed"),
        ({SIGNER_HEADER: "0x1234", SIGNATURE_HEADER: "0x" + "00" * 65}, "must be an address"),
        ({SIGNER_HEADER: CENTER, SIGNATURE_HEADER: "zz"}, "65 bytes as 0x-hex"),
        ({SIGNER_HEADER: CENTER, SIGNATURE_HEADER: "0x" + "00" * 64}, "65 bytes"),
    ],
    ids=["missing", "bad-signer", "not-hex", "short"],
)
def test_malformed_signature_headers_are_unauthenticated(headers, fragment):
    with pytest.raises(Unauthenticated, match=fragment):
        authenticate(headers, ATTEST_REQUEST_TAG, 31337, CENTER, SUBJECT)


def test_clip_keeps_short_text_and_cuts_long_text_saying_its_length():
    assert clip("bafkrei") == "bafkrei"
    cut = clip("x" * 5000)
    assert cut.startswith("x" * 120) and cut.endswith("(5000 characters)") and len(cut) < 160


def test_the_auth_digest_is_keccak_of_the_abi_encoding_the_docs_give():
    expected = keccak(encode(AUTH_TYPES, [P2P_MESSAGE_TAG, 31337, CENTER, SUBJECT, 1_700_000_000]))
    assert auth_digest(P2P_MESSAGE_TAG, 31337, CENTER, SUBJECT, 1_700_000_000) == expected


def _node_app_answers(method: str, path: str, body: bytes = b"") -> tuple[int, dict, dict]:
    """``method path`` against a node app with one POST route (which reads the body) and one route
    that crashes; returns the status, the JSON body and the headers."""

    async def read(request: web.Request) -> web.Response:
        return web.json_response({"bytes": len(await request.read())})

    async def crash(_request: web.Request) -> web.Response:
        raise KeyError("the ledger is missing")

    app = node_app(client_max_size=1024)
    app.router.add_post("/read", read)
    app.router.add_get("/crash", crash)

    async def go() -> tuple[int, dict, dict]:
        async with TestClient(TestServer(app)) as client:
            async with client.request(method, path, data=body) as response:
                assert response.content_type == "application/json"
                return response.status, await response.json(), dict(response.headers)

    return asyncio.run(go())


def test_a_node_app_answers_an_unknown_route_with_a_not_found_error_body():
    status, body, _ = _node_app_answers("GET", "/nope")
    assert status == 404 and body == {"error": "not_found", "message": "no route GET /nope"}


def test_a_node_app_answers_another_method_with_a_method_not_allowed_error_body_and_allow():
    status, body, headers = _node_app_answers("PUT", "/read")
    assert status == 405 and body["error"] == "method_not_allowed"
    assert body["message"] == "method PUT not allowed on /read; use POST" and headers["Allow"] == "POST"


def test_a_node_app_answers_a_body_over_its_limit_with_a_too_large_error_body():
    status, body, _ = _node_app_answers("POST", "/read", b"x" * 1025)
    assert status == 413 and body == {
        "error": "too_large",
        "message": "request body too large: the limit is 1024 bytes",
    }
    assert _node_app_answers("POST", "/read", b"x" * 1024)[:2] == (200, {"bytes": 1024})


def test_a_node_app_answers_a_handler_crash_with_an_internal_error_body():
    status, body, _ = _node_app_answers("GET", "/crash")
    assert status == 500 and body == {"error": "internal_error", "message": "KeyError: 'the ledger is missing'"}
