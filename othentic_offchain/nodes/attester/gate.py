"""Who may ask an attester for anything, checked before a request is logged, recorded or passed on.

Every request to ``/attester/v1/attest`` and ``/p2p/message`` passes, in this order (the cheap
checks first, so that garbage costs little):

1. a token bucket per client address (``peer_rate``): before the signature is recovered, so that
   unsigned or badly signed floods cannot burn CPU in ecrecover without bound (429 ``rate_limited``);
2. the body size (413 ``too_large``), then, for a vote request, each field's size (``proofOfTask``,
   ``data``; 413 ``too_large`` naming the field);
3. the signature headers (401 ``unauthenticated``);
4. a token bucket per signer (``signer_rate``; 429 ``rate_limited``);
5. the signer is an active operator, read from the cached chain view (no chain read per request),
   and on the configured allowlist if there is one (403 ``not_an_aggregator``);
6. for a vote request: the signer is not the task's performer (403 ``aggregator_is_performer``,
   unless the operator allows it) and the performer is an active operator (409
   ``performer_not_active``: the contract would refuse the task).

A refusal of 5 or 6 is not re-checked against a forced fresh read: the view is at most
``chain_refresh`` seconds old, and forcing reads on request would let strangers drive the RPC.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from eth_utils import to_checksum_address

from othentic_offchain.chain.view import ChainView
from othentic_offchain.nodes.attester.checks import Refusal
from othentic_offchain.nodes.attester.config import AttesterConfig
from othentic_offchain.nodes.common.protocol import (
    MAX_PROOF_OF_TASK_LENGTH,
    MAX_TASK_DATA_BYTES,
    AttestRequest,
    Unauthenticated,
    authenticate,
)
from othentic_offchain.nodes.common.ratelimit import KeyedLimiter

__all__ = ["Gate"]

ChainCall = Callable[[Awaitable[Any]], Awaitable[Any]]


class Gate:
    """The admission checks of one attester (see the module); each raises a :class:`Refusal`."""

    def __init__(self, config: AttesterConfig, chain_call: ChainCall) -> None:
        self.config = config
        self.chain_call = chain_call
        self.peers = KeyedLimiter(config.peer_rate, config.peer_burst)
        self.signers = KeyedLimiter(config.signer_rate, config.signer_burst)
        self.allowlist = frozenset(to_checksum_address(address) for address in config.aggregators)

    def admit_peer(self, request: web.BaseRequest) -> None:
        """Refuse a client address that asked too often (before anything else is done)."""
        peer = request.remote or "-"
        if self.peers.allow(peer) is not None:
            raise Refusal(429, "rate_limited", f"too many requests from {peer}: retry later")

    async def read_body(self, request: web.BaseRequest, limit: int) -> bytes:
        """The body, or a ``too_large`` refusal as soon as it passes ``limit`` bytes (declared or streamed)."""
        declared = request.content_length
        if declared is not None and declared > limit:
            raise Refusal(413, "too_large", f"the body is {declared} bytes, the limit is {limit}")
        body = bytearray()
        async for chunk in request.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > limit:
                raise Refusal(413, "too_large", f"the body is more than {limit} bytes, the limit is {limit}")
        return bytes(body)

    @staticmethod
    def check_fields(attest: AttestRequest) -> None:
        """Refuse a task whose ``proofOfTask`` or ``data`` is over the limits the aggregator applies."""
        proof = attest.task.proof_of_task
        if len(proof) > MAX_PROOF_OF_TASK_LENGTH:
            raise Refusal(
                413,
                "too_large",
                f"task.proofOfTask is {len(proof)} characters, the limit is {MAX_PROOF_OF_TASK_LENGTH} "
                "(send a CID or a URL of the proof, not the proof)",
            )
        if len(attest.task.data) > MAX_TASK_DATA_BYTES:
            raise Refusal(
                413, "too_large", f"task.data is {len(attest.task.data)} bytes, the limit is {MAX_TASK_DATA_BYTES}"
            )

    async def admit_signer(
        self,
        headers: Mapping[str, str],
        chain: ChainView,
        tag: bytes,
        chain_id: int,
        attestation_center: str,
        subject: bytes,
        *,
        timed: bool = False,
    ) -> str:
        """The signer of the request, if it is an active operator this attester answers; a refusal else."""
        try:
            signer = authenticate(headers, tag, chain_id, attestation_center, subject, timed=timed)
        except Unauthenticated as exc:
            raise Refusal(401, "unauthenticated", str(exc)) from None
        if self.signers.allow(signer) is not None:
            raise Refusal(429, "rate_limited", f"too many requests signed by {signer}: retry later")
        if not await self.chain_call(chain.active_operator_of(signer)):
            raise Refusal(403, "not_an_aggregator", f"the signer {signer} is not an active operator")
        if self.allowlist and signer not in self.allowlist:
            raise Refusal(403, "not_an_aggregator", f"the signer {signer} is not one of this attester's aggregators")
        return signer

    async def check_performer(self, chain: ChainView, signer: str, performer: str) -> None:
        """Refuse a request by the task's own performer, or for a task whose performer is not active."""
        if signer == performer and not self.config.allow_performer_as_aggregator:
            raise Refusal(
                403,
                "aggregator_is_performer",
                f"the request is signed by the task's performer {performer}: a performer may not collect "
                "the votes on its own task",
            )
        if not await self.chain_call(chain.active_operator_of(performer)):
            raise Refusal(
                409,
                "performer_not_active",
                f"the task's performer {performer} is not an active operator: the contract would refuse the task",
            )
