"""What an attest request must pass before the attester looks at the chain, and how it is refused.

Every refusal is a :class:`Refusal` (HTTP status, stable code, message) answered as an
:class:`~othentic_offchain.nodes.common.protocol.ErrorBody` (``error_response``); the codes are listed in
:mod:`othentic_offchain.nodes.attester.node`. The checks here need nothing but the request and the
attester's own identity: the body parses as an ``AttestRequest``, it names this attester's
attestation center and chain, its ``taskHash`` is the task's, and the performer signed it.
"""

from __future__ import annotations

from pydantic import ValidationError

from othentic_offchain import safejson
from othentic_offchain.avs.models import describe_validation_error
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.crypto.ecdsa import InvalidTaskSignature, check_performer_signature
from othentic_offchain.nodes.attester.votes import StoredVote
from othentic_offchain.nodes.common.protocol import AttestRequest, Vote

__all__ = ["Refusal", "check_request", "parse_attest", "side", "vote_of"]


class Refusal(Exception):
    """A request the attester will not vote on; becomes an :class:`ErrorBody` answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def parse_attest(raw: bytes) -> AttestRequest:
    """The request body as an :class:`AttestRequest`, or a ``bad_request`` refusal naming the problem."""
    try:
        body = safejson.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refusal(400, "bad_request", f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise Refusal(400, "bad_request", f"body must be a JSON object (an AttestRequest), got {type(body).__name__}")
    try:
        return AttestRequest.model_validate(body)
    except ValidationError as exc:
        raise Refusal(400, "bad_request", describe_validation_error(exc)) from None


def check_request(attest: AttestRequest, task: TaskInfo, attestation_center: str, chain_id: int) -> None:
    """Refuse a request for another center or chain, with a wrong ``taskHash`` or a signature that
    is not the task's performer's."""
    if attest.attestation_center != attestation_center:
        raise Refusal(
            400,
            "wrong_center",
            f"this attester votes for the attestation center {attestation_center}, not {attest.attestation_center}",
        )
    if attest.chain_id != chain_id:
        raise Refusal(400, "wrong_chain", f"this attester votes on chain {chain_id}, not {attest.chain_id}")
    computed = task.task_hash()
    if computed != attest.task_hash:
        raise Refusal(
            400,
            "task_hash_mismatch",
            f"taskHash 0x{attest.task_hash.hex()} is not the hash of the task (0x{computed.hex()})",
        )
    try:
        # Bound to this center and chain (ours) or over the bare taskHash (Othentic's), as on-chain.
        check_performer_signature(computed, attest.performer_signature, task.performer, attestation_center, chain_id)
    except InvalidTaskSignature as exc:
        raise Refusal(400, "bad_performer_signature", f"performerSignature: {exc}") from None


def vote_of(stored: StoredVote) -> Vote:
    """The wire vote of a recorded one."""
    return Vote(
        operator_id=stored.operator_id,
        task_hash=stored.task_hash,
        is_approved=stored.is_approved,
        signature=stored.signature,
    )


def side(approved: bool) -> str:
    return "approve" if approved else "reject"
