"""The JSON-RPC 2.0 client over HTTP: one for coroutines, one for plain blocking code.

    async with JsonRpcClient("http://127.0.0.1:8545") as aggregator:       # aiohttp
        task_hash = await aggregator.call("sendTask", params)

    anvil = BlockingJsonRpcClient("http://127.0.0.1:8545", timeout=10)     # standard library only
    block = int(anvil.call("eth_blockNumber"), 16)

Both build requests with :func:`othentic_offchain.jsonrpc.wire.request` and read answers with the
same parser, so they fail the same way:

* an error object in the answer raises the exception class the server raised
  (:class:`~othentic_offchain.jsonrpc.errors.JsonRpcError` and its subclasses, by code);
* no JSON-RPC answer raises :class:`~othentic_offchain.jsonrpc.errors.JsonRpcTransportError`:
  nothing answered (``status`` is ``None``; ``timed_out`` says whether it was a timeout), or
  the server answered something else (``status`` is its HTTP status): a body that is not JSON,
  a body over ``max_response_bytes``, an answer without ``result``, or a result with an HTTP
  status other than 2xx. Its message starts with the URL called.

:class:`BlockingJsonRpcClient` is for synchronous callers (the CLI, anvil's control calls, the
devnet's polling threads): it opens one connection per call, keeps nothing open between calls,
and can be shared between threads.
"""

from __future__ import annotations

import http.client
import itertools
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import aiohttp

from othentic_offchain import safejson
from othentic_offchain.jsonrpc.errors import InternalError, JsonRpcError, JsonRpcTransportError
from othentic_offchain.jsonrpc.wire import Params, encode, request

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "DEFAULT_TIMEOUT", "BlockingJsonRpcClient", "JsonRpcClient"]

DEFAULT_TIMEOUT = 30.0
#: Answers larger than this are refused unread: a confused or hostile endpoint cannot fill memory.
DEFAULT_MAX_RESPONSE_BYTES = 16 << 20
_HEADERS = {"Content-Type": "application/json"}
_SNIPPET = 300  # characters of an unexpected body quoted in an error message


class _Reply:
    """One HTTP answer to a JSON-RPC request, and the one parser of what it holds."""

    def __init__(self, url: str, status: int, raw: bytes) -> None:
        self.url = url
        self.status = status
        self.raw = raw

    def decode(self) -> Any:
        """The parsed body (``None`` when there is none, as for notifications)."""
        if not self.raw.strip():
            return None
        try:
            return safejson.loads(self.raw)
        except ValueError:
            raise self._unexpected("with a body that is not JSON") from None

    def result(self) -> Any:
        """The ``result`` of a single call; its error object raised as its exception class."""
        return self._unwrap(self.decode())

    def results(self, ids: Sequence[int]) -> list[Any]:
        """The answers to a batch, in the order of ``ids``: each a result or the
        :class:`JsonRpcError` it failed with (returned, not raised)."""
        answer = self.decode()
        if isinstance(answer, dict) and answer.get("error") is not None:  # the whole batch was refused
            raise JsonRpcError.from_wire(answer["error"])
        if not isinstance(answer, list):
            raise self._unexpected("without an array of answers to the batch")
        by_id = {item.get("id"): item for item in answer if isinstance(item, dict)}
        out: list[Any] = []
        for request_id in ids:
            item = by_id.get(request_id)
            if item is None:
                out.append(InternalError(f"no answer for call {request_id} of the batch"))
                continue
            try:
                out.append(self._unwrap(item))
            except JsonRpcError as error:
                out.append(error)
        return out

    def _unwrap(self, answer: Any) -> Any:
        if isinstance(answer, dict) and answer.get("error") is not None:
            raise JsonRpcError.from_wire(answer["error"])
        if not isinstance(answer, dict) or "result" not in answer or not 200 <= self.status < 300:
            raise self._unexpected("without a JSON-RPC result")
        return answer["result"]

    def _unexpected(self, what: str) -> JsonRpcTransportError:
        text = self.raw.decode("utf-8", errors="replace")[:_SNIPPET]
        return _answered(self.url, self.status, f"HTTP {self.status} {what}: {text!r}")


def _answered(url: str, status: int, reason: str) -> JsonRpcTransportError:
    return JsonRpcTransportError(f"{url} answered {reason}", status, url=url, reason=reason)


class _Endpoint:
    """What both clients share: the URL, the limits, the request ids and the request objects."""

    def __init__(self, url: str, timeout: float, max_response_bytes: int) -> None:
        if max_response_bytes < 1:
            raise ValueError(f"max_response_bytes must be positive, got {max_response_bytes}")
        self.url = url
        self.timeout = float(timeout)
        self.max_response_bytes = max_response_bytes
        self._ids = itertools.count(1)

    def _call(self, method: str, params: Params) -> tuple[int, dict[str, Any]]:
        request_id = next(self._ids)
        return request_id, request(method, params, request_id)

    def _batch(self, calls: Sequence[tuple[str, Params]]) -> tuple[list[int], list[dict[str, Any]]]:
        ids = [next(self._ids) for _ in calls]
        return ids, [request(method, params, i) for (method, params), i in zip(calls, ids)]

    def _reply(self, status: int, raw: bytes) -> _Reply:
        if len(raw) > self.max_response_bytes:
            raise self._too_large(status)
        return _Reply(self.url, status, raw)

    def _too_large(self, status: int) -> JsonRpcTransportError:
        limit = self.max_response_bytes
        return _answered(self.url, status, f"HTTP {status} with a body over {limit} bytes, this client's limit")

    def _no_answer(self, exc: BaseException, what: str) -> JsonRpcTransportError:
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {self.timeout:g} s"
            message = f"{self.url} did not answer {what} within {self.timeout:g} s"
            return JsonRpcTransportError(message, url=self.url, reason=reason, timed_out=True)
        reason = f"{type(exc).__name__}: {exc}"
        return JsonRpcTransportError(f"{self.url} is unreachable: {reason}", url=self.url, reason=reason)


def _batch_name(calls: Sequence[Any]) -> str:
    return f"a batch of {len(calls)} calls"


class JsonRpcClient(_Endpoint):
    """Calls a JSON-RPC 2.0 endpoint over HTTP with aiohttp.

    Pass ``session`` to share a connection pool; otherwise the client opens its own and closes it
    in :meth:`close` (or at the end of ``async with``); a call after :meth:`close` opens a new one.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        session: aiohttp.ClientSession | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ):
        super().__init__(url, timeout, max_response_bytes)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> JsonRpcClient:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def call(self, method: str, params: Params = None) -> Any:
        """The method's result; raises :class:`JsonRpcError` (typed by code) or
        :class:`JsonRpcTransportError`."""
        _request_id, message = self._call(method, params)
        return (await self._post(message, method)).result()

    async def notify(self, method: str, params: Params = None) -> None:
        """Send a notification (no answer expected)."""
        (await self._post(request(method, params, None), method)).decode()

    async def batch(self, calls: Sequence[tuple[str, Params]]) -> list[Any]:
        """Send several calls at once; returns, in order, each result or the :class:`JsonRpcError`
        it failed with (not raised, so one failure does not hide the other answers)."""
        ids, messages = self._batch(calls)
        return (await self._post(messages, _batch_name(calls))).results(ids)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _post(self, payload: Any, what: str) -> _Reply:
        limit = self.max_response_bytes
        try:
            async with self._client().post(
                self.url, data=encode(payload), timeout=self._timeout, headers=_HEADERS
            ) as response:
                status = response.status
                declared = response.content_length
                if declared is not None and declared > limit:
                    raise self._too_large(status)
                if declared is not None:
                    raw = await response.read()
                else:  # chunked: stop reading past the limit
                    body = bytearray()
                    async for chunk in response.content.iter_chunked(1 << 16):
                        body += chunk
                        if len(body) > limit:
                            raise self._too_large(status)
                    raw = bytes(body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._no_answer(exc, what) from exc
        return self._reply(status, raw)


class BlockingJsonRpcClient(_Endpoint):
    """Calls a JSON-RPC 2.0 endpoint over HTTP from synchronous code (``urllib``, no event loop).

    The same calls, answers and exceptions as :class:`JsonRpcClient`; each call opens and closes
    its own connection, so one client may be used from several threads at once.
    """

    def __init__(
        self, url: str, *, timeout: float = DEFAULT_TIMEOUT, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    ):
        super().__init__(url, timeout, max_response_bytes)

    def call(self, method: str, params: Params = None) -> Any:
        """The method's result; raises :class:`JsonRpcError` (typed by code) or
        :class:`JsonRpcTransportError`."""
        _request_id, message = self._call(method, params)
        return self._post(message, method).result()

    def notify(self, method: str, params: Params = None) -> None:
        """Send a notification (no answer expected)."""
        self._post(request(method, params, None), method).decode()

    def batch(self, calls: Sequence[tuple[str, Params]]) -> list[Any]:
        """Several calls in one request; each result or :class:`JsonRpcError`, in order."""
        ids, messages = self._batch(calls)
        return self._post(messages, _batch_name(calls)).results(ids)

    def _post(self, payload: Any, what: str) -> _Reply:
        outgoing = urllib.request.Request(self.url, data=encode(payload), headers=_HEADERS, method="POST")
        enough = self.max_response_bytes + 1  # one byte more than allowed tells "too large" apart
        try:
            try:
                with urllib.request.urlopen(outgoing, timeout=self.timeout) as response:
                    status, raw = response.status, response.read(enough)
            except urllib.error.HTTPError as exc:  # 4xx/5xx: the body may still be a JSON-RPC error
                with exc:
                    status, raw = exc.code, exc.read(enough)
        except urllib.error.URLError as exc:
            cause = exc.reason if isinstance(exc.reason, BaseException) else exc
            raise self._no_answer(cause, what) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise self._no_answer(exc, what) from exc
        return self._reply(status, raw)
