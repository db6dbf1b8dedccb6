"""The performer's side of the aggregator's JSON-RPC: Othentic's ``sendTask``, and what can go wrong.

The transport is :class:`~othentic_offchain.jsonrpc.JsonRpcClient`; this module only words its
failures for the performer's outcomes: nothing answered is :class:`AggregatorUnavailable`, a
refusal or an answer that is not JSON-RPC is :class:`AggregatorError` (with the JSON-RPC code when
there is one). :attr:`AggregatorError.definite` tells a refusal that sending again cannot change
(a bad signature, an unknown or expired definition, malformed params) from one that may pass later
(busy, the aggregator's chain read failed, an internal error, a proxy's error page).

:class:`Aggregators` sends to several aggregators, failing over from one to the next on anything
but a definite refusal.
"""

from __future__ import annotations

from typing import Any

from othentic_offchain.avs.models import to_hex
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.jsonrpc import JsonRpcClient, JsonRpcError, JsonRpcTransportError
from othentic_offchain.jsonrpc.errors import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR
from othentic_offchain.nodes.aggregator.config import (
    DEFINITION_EXPIRED,
    INVALID_SIGNATURE,
    PERFORMER_NOT_ACTIVE,
    UNKNOWN_DEFINITION,
    UNSUPPORTED_SIGNATURE_TYPE,
    WRONG_CHAIN,
)

__all__ = ["DEFINITE_CODES", "AggregatorClient", "AggregatorError", "AggregatorUnavailable", "Aggregators"]

#: JSON-RPC codes that refuse a task for good: the same ``sendTask`` will be refused again, by this
#: aggregator and any other of the deployment. Every other failure may pass later or elsewhere.
DEFINITE_CODES = frozenset(
    {
        PARSE_ERROR,
        INVALID_REQUEST,
        INVALID_PARAMS,
        INVALID_SIGNATURE,
        UNKNOWN_DEFINITION,
        DEFINITION_EXPIRED,
        PERFORMER_NOT_ACTIVE,
        WRONG_CHAIN,
        UNSUPPORTED_SIGNATURE_TYPE,
    }
)


class AggregatorUnavailable(ConnectionError):
    """Nothing answered at the aggregator's URL (refused, reset, timed out); from
    :class:`Aggregators`, no aggregator took the task for a reason that may pass (``code``: the
    last JSON-RPC code one of them answered, if any)."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class AggregatorError(RuntimeError):
    """The aggregator answered with a JSON-RPC error (``code``, ``message``, ``data``) or garbage."""

    def __init__(self, message: str, *, code: int | None = None, data: Any = None, url: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data
        self.url = url  # the aggregator that answered

    @property
    def definite(self) -> bool:
        """A refusal that sending the task again cannot change (unless the answer asks for a retry)."""
        if isinstance(self.data, dict) and self.data.get("retry") is True:
            return False
        return self.code in DEFINITE_CODES


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
                raise AggregatorError(f"aggregator at {exc}", url=self.url) from exc
            raise AggregatorUnavailable(f"aggregator at {exc}") from exc
        except JsonRpcError as exc:
            raise AggregatorError(
                f"aggregator {self.url} refused {method}: {exc.message} (code {exc.code})",
                code=exc.code,
                data=exc.data,
                url=self.url,
            ) from exc

    async def send_task(self, task: TaskInfo, signature: bytes) -> Any:
        """Othentic's ``sendTask`` with its positional params."""
        return await self.call(
            "sendTask",
            [task.proof_of_task, to_hex(task.data), task.task_definition_id, task.performer, to_hex(signature)],
        )

    async def close(self) -> None:
        await self._rpc.close()


class Aggregators:
    """``sendTask`` to the first of several aggregators that takes the task.

    The URLs are tried in order, starting from the one that last took a task (so a dead first
    URL costs one failed call per round, not one per task). Any failure moves on to the next URL:
    also a definite refusal, which may come from one aggregator's settings (its size limits) or
    its lagging view of the chain (a performer registered a moment ago). The task is refused for
    good (:class:`AggregatorError`, the first definite refusal) only when every aggregator refused
    it definitely; when some failed for reasons that may pass, :class:`AggregatorUnavailable`
    names each failure, and its ``code`` is the last JSON-RPC code seen, if any.
    """

    def __init__(self, urls: tuple[str, ...] | list[str], timeout: float = 30.0) -> None:
        if not urls:
            raise ValueError("at least one aggregator URL is needed")
        self.clients = [AggregatorClient(url, timeout) for url in urls]
        self._first = 0

    @property
    def urls(self) -> list[str]:
        return [client.url for client in self.clients]

    async def send_task(self, task: TaskInfo, signature: bytes) -> tuple[str, Any]:
        """(the URL that took the task, its answer); raises :class:`AggregatorError` (definite)
        or :class:`AggregatorUnavailable` (every URL failed, for reasons that may pass)."""
        failures: list[str] = []
        code: int | None = None
        refusal: AggregatorError | None = None  # the first definite one
        passing = 0  # failures that may pass later
        count = len(self.clients)
        for step in range(count):
            index = (self._first + step) % count
            client = self.clients[index]
            try:
                answer = await client.send_task(task, signature)
            except AggregatorUnavailable as exc:
                failures.append(str(exc))
                passing += 1
                continue
            except AggregatorError as exc:
                failures.append(str(exc))
                code = exc.code if exc.code is not None else code
                if exc.definite:
                    refusal = refusal or exc
                else:
                    passing += 1
                continue
            self._first = index
            return client.url, answer
        if refusal is not None and not passing:
            raise refusal
        raise AggregatorUnavailable("; ".join(failures), code=code)

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
