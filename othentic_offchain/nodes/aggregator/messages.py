"""Who may call ``sendCustomMessage``, and how often: it fans out to every attester.

Othentic's form, ``sendCustomMessage(data, taskDefinitionId)``, is unsigned; here it is accepted
only from a trusted client address (``AggregatorConfig.trusted_clients``, default loopback: a
local execution service). Anyone else signs the call as an active operator, with three more
params: ``signer`` (the address), ``signature`` (65 bytes over
:func:`~othentic_offchain.crypto.auth.auth_digest` with
:data:`~othentic_offchain.crypto.auth.CUSTOM_MESSAGE_TAG` and the subject
:func:`~othentic_offchain.crypto.auth.custom_message_subject` of the data and the definition id)
and ``timestamp`` (unix seconds, at most ``message_max_age`` from this node's clock).

The checks, cheapest first: the data's size; for a signed call a token bucket per client
address before the signature is recovered; the signature and the timestamp; the signer is an
active operator (from the cached chain view); then a bucket per caller (the signer, or the
trusted address of an unsigned call) and one for everyone together.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from othentic_offchain.crypto.auth import CUSTOM_MESSAGE_TAG, auth_digest, custom_message_subject, sign_auth
from othentic_offchain.jsonrpc import ApplicationError, InvalidParams
from othentic_offchain.nodes.aggregator.config import CHAIN_UNAVAILABLE, NOT_AN_OPERATOR, RATE_LIMITED, UNAUTHENTICATED
from othentic_offchain.nodes.common.protocol import Unauthenticated, check_signer, check_timestamp
from othentic_offchain.nodes.common.ratelimit import KeyedLimiter, TrustedClients

if TYPE_CHECKING:
    from othentic_offchain.nodes.aggregator.node import AggregatorNode

__all__ = ["MessageGate", "sign_custom_message"]


def sign_custom_message(
    private_key: str,
    chain_id: int,
    attestation_center: str,
    data: bytes,
    task_definition_id: int | None,
    timestamp: int,
) -> bytes:
    """The ``signature`` param of a signed ``sendCustomMessage`` call."""
    subject = custom_message_subject(data, task_definition_id)
    return sign_auth(private_key, auth_digest(CUSTOM_MESSAGE_TAG, chain_id, attestation_center, subject, timestamp))


class MessageGate:
    """The admission of one aggregator's ``sendCustomMessage`` calls (see the module)."""

    def __init__(self, node: AggregatorNode) -> None:
        self.node = node
        config = node.config
        self.trusted = TrustedClients(config.trusted_clients)
        self.peers = KeyedLimiter(config.message_auth_rate_per_client, config.message_auth_burst_per_client)
        self.callers = KeyedLimiter(
            config.message_rate_per_client,
            config.message_burst_per_client,
            config.message_rate_total,
            config.message_burst_total,
        )

    def trusts(self, client: str) -> bool:
        """Whether ``client`` (an IP address) may send unsigned messages."""
        return client in self.trusted

    async def admit(
        self,
        client: str,
        data: bytes,
        task_definition_id: int | None,
        signer: str | None,
        signature: bytes | None,
        timestamp: int | None,
    ) -> str:
        """Who the caller is (its signer's address, or its trusted client address), if it may send
        ``data`` now; an application error (or invalid params) saying why not otherwise."""
        config = self.node.config
        if len(data) > config.max_message_bytes:
            raise InvalidParams(
                f"data is {len(data)} bytes, the limit is {config.max_message_bytes}",
                {"limit": config.max_message_bytes},
            )
        if signer is None and signature is None and timestamp is None:
            if not self.trusts(client):
                self._refused(client, "unauthenticated")
                raise ApplicationError(
                    UNAUTHENTICATED,
                    f"unsigned sendCustomMessage is accepted only from trusted clients, not from {client}: "
                    "sign it as an active operator (params signer, signature, timestamp)",
                    {"client": client},
                )
            caller = client
        else:
            caller = await self._authenticate(client, data, task_definition_id, signer, signature, timestamp)
        over = self.callers.allow(caller)
        if over is not None:
            self._refused(client, over)
            who = "from this client" if over == "client" else "from all clients together"
            raise ApplicationError(
                RATE_LIMITED, f"too many custom messages {who}: retry later", {"retry": True, "limit": over}
            )
        return caller

    async def _authenticate(
        self,
        client: str,
        data: bytes,
        task_definition_id: int | None,
        signer: str | None,
        signature: bytes | None,
        timestamp: int | None,
    ) -> str:
        node = self.node
        if self.peers.allow(client) is not None:
            self._refused(client, "client")
            raise ApplicationError(
                RATE_LIMITED, "too many signed custom messages from this client: retry later", {"retry": True}
            )
        chain = node.require_chain()
        try:
            if signer is None or signature is None:
                raise Unauthenticated("the call is not signed: the params signer, signature and timestamp go together")
            stamp = check_timestamp(timestamp, node.config.message_max_age)
            digest = auth_digest(
                CUSTOM_MESSAGE_TAG,
                node.chain_id,
                chain.address,
                custom_message_subject(data, task_definition_id),
                stamp,
            )
            signed_by = check_signer(signer, signature, digest)
        except Unauthenticated as exc:
            self._refused(client, "unauthenticated")
            raise ApplicationError(UNAUTHENTICATED, f"sendCustomMessage: {exc}", {"client": client}) from None
        try:
            operator_id = await chain.active_operator_of(signed_by)
        except Exception as exc:
            raise ApplicationError(
                CHAIN_UNAVAILABLE,
                f"could not read the chain to check the signer: {type(exc).__name__}; retry later",
                {"retry": True},
            ) from None
        if not operator_id:
            self._refused(client, "not_an_operator")
            raise ApplicationError(
                NOT_AN_OPERATOR, f"the signer {signed_by} is not an active operator", {"signer": signed_by}
            )
        return signed_by

    def _refused(self, client: str, reason: str) -> None:
        self.node.log.step("message.refused", level=logging.WARNING, client=client, reason=reason)
