"""What the aggregator and the attesters say to each other, over HTTP with JSON bodies.

The aggregator asks each attester of a task's definition for its vote:

    POST {attester}/attester/v1/attest   AttestRequest  ->  200 Vote
                                                          ->  4xx/5xx ErrorBody

An attester validates the task with its Validation Service, BLS-signs the vote hash of the side it
decided (bound to ITS configured attestation center and chain: a request naming another center or
chain is refused), records the vote, and answers. Asked again for the same task it answers with
the vote it recorded, never with the other side.

Custom messages reach every attester's service through ``POST {attester}/p2p/message``, the same
body as the services' own endpoint (``{"data": "0x..."}``).

Both requests are authenticated: the aggregator signs them with its operator's ECDSA key and sends
the signature in HTTP headers (:func:`auth_headers` builds them, :func:`authenticate` checks them;
the digest is :func:`othentic_offchain.crypto.auth.auth_digest`):

    X-Othentic-Signer:    0x... (the signing operator's address)
    X-Othentic-Signature: 0x... (65 bytes r || s || v over the digest)
    X-Othentic-Timestamp: unix seconds (relayed messages only: at most MESSAGE_MAX_AGE away)

An attest request's subject is its ``taskHash`` and it carries no timestamp: a replayed request
for a task the attester voted on is answered from its vote record, and one for a task it has not
voted on yet asks for a vote that signer asked for anyway. A relayed message's subject is the
keccak of the body, and its timestamp bounds replays (a message is delivered again each time).

Every field is bounded (:data:`MAX_PROOF_OF_TASK_LENGTH`, :data:`MAX_TASK_DATA_BYTES`, the body
limits), so that what an attester records and logs per request is small.

Uint256 words (BLS points) travel as 0x-hex strings: JSON numbers above 2**53 break many parsers.

A node's app is made by :func:`node_app`: what
aiohttp itself refuses (an unknown route, another HTTP method, a body over the app's
``client_max_size``) and what a handler lets escape is answered as an :class:`ErrorBody` too,
never as aiohttp's text page.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Annotated, Any

import aiohttp
from aiohttp import web
from eth_account import Account
from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

from othentic_offchain.avs.models import Address, HexBytes, Task, _WireModel
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.crypto.auth import auth_digest, recover_auth_signer, sign_auth
from othentic_offchain.crypto.bn254 import G1Point
from othentic_offchain.crypto.ecdsa import InvalidTaskSignature
from othentic_offchain.httpguard import json_errors

ATTEST_PATH = "/attester/v1/attest"
MESSAGE_PATH = "/p2p/message"
HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"

#: How long an attester waits for its Validation Service (``AttesterConfig.service_timeout``), and
#: how long the aggregator waits for an attester's vote (``AggregatorConfig.vote_timeout``): the
#: aggregator waits longer, by a margin for the attester's own chain checks and signing, so a slow
#: service's answer still arrives instead of the aggregator giving up and asking again and again.
SERVICE_TIMEOUT = 10.0
VOTE_TIMEOUT = SERVICE_TIMEOUT + 5.0

#: The largest answer the aggregator reads from an attester (a vote is about 300 bytes, an error a
#: few hundred): a hostile attester streaming gigabytes is cut off here.
MAX_ANSWER_BYTES = 64 * 1024


#: The longest ``proofOfTask`` (characters), for the aggregator's ``sendTask`` (its default
#: ``max_proof_length``) and for the attester: a CID is under 100 characters and a URL to a proof
#: rarely over a few hundred, while every vote record and log line holds the proof.
MAX_PROOF_OF_TASK_LENGTH = 1024
#: The largest task ``data``: geth and most mempools refuse transactions over 128 KiB; the rest of
#: submitTask's calldata (proofOfTask, signatures, the signers' G2 key, non-signer ids) and the
#: transaction's envelope fit in the 32 KiB left.
MAX_TASK_DATA_BYTES = 96 * 1024
#: The largest attest request body an attester reads: the data as hex, the proof with every
#: character JSON-escaped, and room for the other fields.
MAX_ATTEST_BODY_BYTES = 2 * MAX_TASK_DATA_BYTES + 6 * MAX_PROOF_OF_TASK_LENGTH + 4096
#: The largest custom message ``data`` (the aggregator's default ``max_message_bytes``).
MAX_MESSAGE_DATA_BYTES = 16 * 1024
#: The largest relayed message body an attester reads (the data as hex, and room).
MAX_MESSAGE_BODY_BYTES = 2 * MAX_MESSAGE_DATA_BYTES + 1024

SIGNER_HEADER = "X-Othentic-Signer"
SIGNATURE_HEADER = "X-Othentic-Signature"
TIMESTAMP_HEADER = "X-Othentic-Timestamp"
#: How far (seconds, either way) a signed timestamp may be from the receiver's clock.
MESSAGE_MAX_AGE = 60


class Unauthenticated(ValueError):
    """A request whose signature is missing, malformed, stale or not its claimed signer's."""


def auth_headers(
    private_key: str, tag: bytes, chain_id: int, attestation_center: str, subject: bytes, timestamp: int = 0
) -> dict[str, str]:
    """The headers that authenticate one request as signed by ``private_key``'s account."""
    signature = sign_auth(private_key, auth_digest(tag, chain_id, attestation_center, subject, timestamp))
    headers = {SIGNER_HEADER: Account.from_key(private_key).address, SIGNATURE_HEADER: "0x" + signature.hex()}
    if timestamp:
        headers[TIMESTAMP_HEADER] = str(timestamp)
    return headers


def check_signer(claimed: Any, signature: Any, digest: bytes) -> str:
    """The ``claimed`` address, checksummed, if ``signature`` (0x-hex or bytes) over ``digest`` is
    its; :class:`Unauthenticated` saying what is wrong otherwise."""
    if not claimed or not signature:
        raise Unauthenticated("the request is not signed: an active operator's signer and signature are required")
    if not isinstance(claimed, str) or len(claimed) != 42 or not claimed.startswith("0x"):
        raise Unauthenticated(f"the signer must be an address (0x and 40 hex digits), got {str(claimed)[:60]!r}")
    try:
        bytes.fromhex(claimed[2:])
    except ValueError:
        raise Unauthenticated(f"the signer must be an address (0x and 40 hex digits), got {claimed!r}") from None
    if isinstance(signature, str):
        if len(signature) > 200 or not signature.startswith(("0x", "0X")):
            raise Unauthenticated("the signature must be 65 bytes as 0x-hex")
        try:
            signature = bytes.fromhex(signature[2:])
        except ValueError:
            raise Unauthenticated("the signature must be 65 bytes as 0x-hex") from None
    try:
        recovered = recover_auth_signer(digest, bytes(signature))
    except InvalidTaskSignature as exc:
        raise Unauthenticated(f"bad signature: {exc}") from None
    if recovered.lower() != claimed.lower():  # the claim's case (EIP-55 or not) does not matter
        raise Unauthenticated(
            f"the signature recovers to {recovered}, not to the signer {claimed} "
            "(sign the request digest of docs/architecture.md with the signer's key)"
        )
    return recovered


def check_timestamp(timestamp: Any, max_age: float = MESSAGE_MAX_AGE, now: float | None = None) -> int:
    """``timestamp`` (unix seconds) if it is at most ``max_age`` seconds from now; :class:`Unauthenticated` else."""
    if isinstance(timestamp, str) and timestamp.isdigit() and len(timestamp) <= 20:
        timestamp = int(timestamp)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise Unauthenticated("a signed request needs a timestamp (unix seconds, an integer)")
    now = time.time() if now is None else now
    if abs(now - timestamp) > max_age:
        raise Unauthenticated(
            f"the timestamp {timestamp} is {now - timestamp:+.0f} s from this node's clock, "
            f"the limit is {max_age:g} s: sign again now (and check the clocks)"
        )
    return timestamp


def authenticate(
    headers: Mapping[str, str],
    tag: bytes,
    chain_id: int,
    attestation_center: str,
    subject: bytes,
    *,
    timed: bool = False,
    max_age: float = MESSAGE_MAX_AGE,
) -> str:
    """The signer of a request whose :func:`auth_headers` are ``headers``; :class:`Unauthenticated`
    when they are missing or wrong. ``timed``: the request must carry a fresh timestamp."""
    if not headers.get(SIGNER_HEADER) or not headers.get(SIGNATURE_HEADER):
        raise Unauthenticated(
            f"the request is not signed: an active operator's {SIGNER_HEADER} and {SIGNATURE_HEADER} headers are required"
        )
    timestamp = check_timestamp(headers.get(TIMESTAMP_HEADER), max_age) if timed else 0
    digest = auth_digest(tag, chain_id, attestation_center, subject, timestamp)
    return check_signer(headers.get(SIGNER_HEADER), headers.get(SIGNATURE_HEADER), digest)


def clip(text: str, limit: int = 120) -> str:
    """``text`` cut to ``limit`` characters for a log line (the length is said)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class AnswerTooLarge(ValueError):
    """An attester's answer over :data:`MAX_ANSWER_BYTES`; the read was aborted."""


async def read_capped(response: aiohttp.ClientResponse, limit: int = MAX_ANSWER_BYTES) -> bytes:
    """The body of ``response``, or :class:`AnswerTooLarge` as soon as it passes ``limit`` bytes
    (declared or streamed); the connection is then closed, not drained."""
    declared = response.content_length
    if declared is not None and declared > limit:
        response.close()
        raise AnswerTooLarge(f"answer of {declared} bytes, the limit is {limit}")
    body = bytearray()
    async for chunk in response.content.iter_chunked(16 * 1024):
        body += chunk
        if len(body) > limit:
            response.close()
            raise AnswerTooLarge(f"answer of more than {limit} bytes, the limit is {limit}")
    return bytes(body)


def _no_bool(value: Any) -> Any:
    # JSON true would pass as 1: a sender bug worth a 400, not a vote on chain 1.
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    return value


def _word(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a 0x-hex uint256, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.startswith(("0x", "0X")):
        number = int(value, 16)
    else:
        raise ValueError(f"expected a 0x-hex uint256, got {value!r}")
    if not 0 <= number < 2**256:
        raise ValueError("uint256 out of range")
    return number


#: A uint256 as a 0x-hex string on the wire.
Word = Annotated[
    int,
    BeforeValidator(_word),
    PlainSerializer(lambda v: hex(v), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": "^0x[0-9a-fA-F]{1,64}$", "description": "uint256 as 0x-hex"}),
]

Hash32 = Annotated[HexBytes, Field(min_length=32, max_length=32)]


def wire_task(task: TaskInfo) -> Task:
    return Task(
        proof_of_task=task.proof_of_task,
        data=task.data,
        task_definition_id=task.task_definition_id,
        performer=task.performer,
    )


def task_info(task: Task) -> TaskInfo:
    return TaskInfo(task.proof_of_task, task.data, task.performer, task.task_definition_id)


class AttestRequest(_WireModel):
    """The aggregator's request for a vote on one task."""

    task: Task
    task_hash: Hash32 = Field(alias="taskHash", description="taskHash of the task, as the performer signed it")
    performer_signature: HexBytes = Field(
        alias="performerSignature", description="The performer's 65-byte ECDSA signature over taskHash"
    )
    attestation_center: Address = Field(alias="attestationCenter")
    chain_id: Annotated[int, BeforeValidator(_no_bool)] = Field(alias="chainId", ge=1, lt=2**256)


class Vote(_WireModel):
    """An attester's signed vote."""

    operator_id: int = Field(alias="operatorId", ge=1)
    task_hash: Hash32 = Field(alias="taskHash")
    is_approved: bool = Field(alias="isApproved")
    signature: tuple[Word, Word] = Field(description="BLS signature (G1 point x, y) over the vote hash")

    @property
    def point(self) -> G1Point:
        return G1Point(*self.signature)


class ErrorBody(_WireModel):
    """Every non-2xx answer of a node: a stable code and a message for people."""

    error: str = Field(description="machine-readable code, e.g. 'service_unavailable'")
    message: str


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    """A node's non-2xx HTTP answer: an :class:`ErrorBody`, plus ``extra`` members if given."""
    return web.json_response({**ErrorBody(error=code, message=message).to_wire(), **extra}, status=status)


def node_app(**kwargs: Any) -> web.Application:
    """A node's ``web.Application`` (``kwargs`` as aiohttp takes them), answering every refusal
    as an :class:`ErrorBody` (:func:`othentic_offchain.httpguard.json_errors`)."""
    return web.Application(middlewares=[json_errors], **kwargs)
