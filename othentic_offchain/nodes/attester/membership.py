"""Whether this operator may attest a task definition now, read from the chain.

It may when the definition exists, the operator is registered, active and a member of the
definition's attester set, and the BLS key the node signs with is the one registered on-chain
(``bls_key_mismatch`` otherwise: the contract would reject every vote). A refusal that stale
cached state could explain (a definition or a registration seconds old) is checked once more
against a fresh read before it is given, at most once per refresh interval so that bad requests
cannot flood the RPC endpoint. A failed read is a ``chain_unavailable`` refusal naming the endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TypeVar

from othentic_offchain.chain.view import ChainView, UnknownDefinition
from othentic_offchain.nodes.attester.checks import Refusal
from othentic_offchain.nodes.attester.config import AttesterConfig
from othentic_offchain.nodes.common.redact import redact_url, scrub_urls

__all__ = ["Membership"]

T = TypeVar("T")

#: Refusals a fresh read of the chain may turn into a vote.
_MAYBE_STALE = ("unknown_definition", "not_an_attester", "bls_key_mismatch")


class Membership:
    """The membership checks of one attester; :attr:`operator_id` is what the chain last said."""

    def __init__(self, config: AttesterConfig, attestation_center: str) -> None:
        self.config = config
        self.address = config.address
        self.attestation_center = attestation_center
        self.operator_id: int | None = None
        self._last_forced_refresh = float("-inf")

    async def check(self, chain: ChainView, definition_id: int) -> int:
        """This operator's id, if it may attest the definition now; a :class:`Refusal` otherwise."""
        try:
            return await self._read(chain, definition_id)
        except Refusal as refusal:
            if refusal.code not in _MAYBE_STALE:
                raise
            now = time.monotonic()
            if now - self._last_forced_refresh < self.config.chain_refresh:
                raise
            self._last_forced_refresh = now
            await self.chain_call(chain.refresh(force=True))
            return await self._read(chain, definition_id)

    async def _read(self, chain: ChainView, definition_id: int) -> int:
        try:
            definition = await self.chain_call(chain.definition(definition_id))
        except UnknownDefinition:
            raise Refusal(
                404,
                "unknown_definition",
                f"task definition {definition_id} does not exist on {self.attestation_center}",
            ) from None
        operator_id = await self.chain_call(chain.operator_id_of(self.address))
        self.operator_id = operator_id or None
        if not operator_id:
            raise Refusal(409, "not_an_attester", f"{self.address} is not a registered operator")
        if operator_id not in definition.members:
            raise Refusal(
                409,
                "not_an_attester",
                f"operator {operator_id} is not an active attester of task definition {definition_id}",
            )
        operator = await self.chain_call(chain.operator(operator_id))
        if not operator.active:
            raise Refusal(409, "not_an_attester", f"operator {operator_id} is not active")
        if operator.public.g2 != self.config.bls.public.g2:
            raise Refusal(
                409,
                "bls_key_mismatch",
                f"the BLS key of this node is not the key registered for "
                f"operator {operator_id}: its votes would not verify",
            )
        return operator_id

    async def chain_call(self, awaitable: Awaitable[T]) -> T:
        """``awaitable``'s result; a failed read becomes a ``chain_unavailable`` refusal."""
        try:
            return await awaitable
        except (UnknownDefinition, Refusal):
            raise
        except Exception as exc:
            raise Refusal(
                503,
                "chain_unavailable",
                f"reading the chain at {redact_url(self.config.rpc_url)} failed: "
                f"{type(exc).__name__}: {scrub_urls(str(exc), self.config.rpc_url)}",
            ) from None
