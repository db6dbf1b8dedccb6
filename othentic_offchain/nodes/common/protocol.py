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

Uint256 words (BLS points) travel as 0x-hex strings: JSON numbers above 2**53 break many parsers.

A node's app is made by :func:`node_app` (the attester's is not yet: docs/decisions/0007): what
aiohttp itself refuses (an unknown route, another HTTP method, a body over the app's
``client_max_size``) and what a handler lets escape is answered as an :class:`ErrorBody` too,
never as aiohttp's text page.
"""

from __future__ import annotations

from typing import Annotated, Any

import aiohttp
from aiohttp import web
from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

from othentic_offchain.avs.models import Address, HexBytes, Task, _WireModel
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.crypto.bn254 import G1Point
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
    chain_id: Annotated[int, BeforeValidator(_no_bool)] = Field(alias="chainId", ge=1)


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
