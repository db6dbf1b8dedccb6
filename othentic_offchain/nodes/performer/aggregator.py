"""The performer's side of the aggregator's JSON-RPC: Othentic's ``sendTask``, and what can go wrong.

The transport is :class:`~othentic_offchain.jsonrpc.JsonRpcClient`; this module only words its
failures for the performer's outcomes: nothing answered is :class:`AggregatorUnavailable`
(``aggregator_unavailable``), a refusal or an answer that is not JSON-RPC is
:class:`AggregatorError` (``aggregator_error``, with the JSON-RPC code when there is one).
"""

from __future__ import annotations

from typing import Any

from othentic_offchain.avs.models import to_hex
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.jsonrpc import JsonRpcClient, JsonRpcError, JsonRpcTransportError

__all__ = ["AggregatorClient", "AggregatorError", "AggregatorUnavailable"]


class AggregatorUnavailable(ConnectionError):
    """Nothing answered at the aggregator's URL (refused, reset, timed out)."""


class AggregatorError(RuntimeError):
    """The aggregator answered with a JSON-RPC error (``code``, ``message``, ``data``) or garbage."""

    def __init__(self, message: str, *, code: int | None = None, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class AggregatorClient:
    """JSON-RPC 2.0 over HTTP POST to an aggregator (ours or Othentic's), one request id per call."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"aggregator URL must start with http:// or https://, got {url!r}")
        self.url = url
        self.timeout = timeout
        self._rpc = JsonRpcClient(url, timeout=timeout)

    async def call(self, method: str, params: list[Any]) -> Any:
        """The ``result`` of one call; raises :class:`AggregatorUnavailable` or :class:`AggregatorError`."""
        try:
            return await self._rpc.call(method, params)
        except JsonRpcTransportError as exc:  # its message starts with the URL
            if exc.answered:
                raise AggregatorError(f"aggregator at {exc}") from exc
            raise AggregatorUnavailable(f"aggregator at {exc}") from exc
        except JsonRpcError as exc:
            raise AggregatorError(
                f"aggregator refused {method}: {exc.message} (code {exc.code})", code=exc.code, data=exc.data
            ) from exc

    async def send_task(self, task: TaskInfo, signature: bytes) -> Any:
        """Othentic's ``sendTask`` with its positional params."""
        return await self.call(
            "sendTask",
            [task.proof_of_task, to_hex(task.data), task.task_definition_id, task.performer, to_hex(signature)],
        )

    async def close(self) -> None:
        await self._rpc.close()
