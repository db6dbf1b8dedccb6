"""Nodes' connections to the chain's JSON-RPC endpoints: asyncio ones for the hot paths, a blocking
one for work done in a thread; both fail over between several endpoints.

A node is given one URL or several (``"https://a,https://b"``: a comma-separated list, as
``--rpc`` takes them). Every call goes to the *active* endpoint, the first of the list to begin
with. A transient failure (connection refused or reset, no answer within the attempt timeout,
HTTP 429 or 5xx, a JSON-RPC ``-32005`` / ``429`` limit error) makes the next endpoint active and
the call is tried there; once every endpoint failed, the call waits (exponential backoff with
jitter) and goes round again, until its deadline (``timeout``, 30 s unless
:func:`rpc_deadline` says otherwise), when it raises :class:`RpcUnavailable` (a
``ConnectionError``) naming each endpoint's last failure. After ``primary_retry_after`` seconds
on a later endpoint, calls try the first one again.

Which calls are retried: a request that cannot have reached a node (the connection was refused,
HTTP 429, a limit error) is always sent again. One that may have been executed (a timeout, a
connection dropped mid-answer, HTTP 5xx) is sent again only for reads (:data:`RETRY_SAFE`) and
for ``eth_sendRawTransaction``: the same signed bytes cannot execute twice, and the answer to a
second copy (``already known``, ``nonce too low``) is the sender's to understand
(:mod:`othentic_offchain.chain.sender`). Anything else (``eth_sendTransaction``, which picks its
own nonce; ``evm_mine``) fails at once with :class:`RpcUnavailable` rather than risk running twice.

With ``expect_chain_id``, each endpoint's ``eth_chainId`` is checked before it serves a call: at
open for every endpoint that answers (one serving another chain is refused with ``ValueError``),
and before first use for one that did not answer then (it is then disabled, not used).

URLs often hold a provider's API key: logs, errors and metric labels name endpoints by scheme and
host only (:func:`~othentic_offchain.nodes.common.redact.redact_url`). Errors and fail-overs are
counted per endpoint (``othentic_rpc_errors_total{endpoint,kind}``,
``othentic_rpc_failovers_total{endpoint}``) in the node's Prometheus registry, and
:meth:`FailoverPolicy.status` reports each endpoint for a health answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from web3.providers.async_base import AsyncJSONBaseProvider as _AsyncBase
from web3.providers.base import JSONBaseProvider as _SyncBase

from othentic_offchain.nodes.common.redact import redact_url, scrub_urls

__all__ = [
    "RETRY_SAFE",
    "FailoverAsyncHTTPProvider",
    "FailoverHTTPProvider",
    "FailoverPolicy",
    "RpcConnection",
    "RpcUnavailable",
    "async_web3",
    "rpc_deadline",
    "split_rpc_urls",
    "sync_web3",
]

logger = logging.getLogger("othentic.rpc")

#: Methods that read: sent again after any transient failure.
RETRY_SAFE = frozenset(
    {
        "eth_blockNumber",
        "eth_call",
        "eth_chainId",
        "eth_estimateGas",
        "eth_feeHistory",
        "eth_gasPrice",
        "eth_getBalance",
        "eth_getBlockByHash",
        "eth_getBlockByNumber",
        "eth_getCode",
        "eth_getLogs",
        "eth_getStorageAt",
        "eth_getTransactionByHash",
        "eth_getTransactionCount",
        "eth_getTransactionReceipt",
        "eth_maxPriorityFeePerGas",
        "eth_syncing",
        "net_version",
        "web3_clientVersion",
        # Not a read, but the same signed bytes execute at most once (see the module's docstring).
        "eth_sendRawTransaction",
    }
)
#: JSON-RPC error codes providers answer when a caller exceeds its limits.
LIMIT_CODES = frozenset({-32005, 429})
DEFAULT_TIMEOUT = 30.0
DEFAULT_ATTEMPT_TIMEOUT = 10.0

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("othentic_rpc_deadline", default=None)


@contextlib.contextmanager
def rpc_deadline(seconds: float) -> Iterator[None]:
    """Calls made inside give up after ``seconds`` in all (e.g. a health probe that must answer fast)."""
    token = _deadline.set(seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def split_rpc_urls(rpc_url: str | Sequence[str]) -> list[str]:
    """The URLs of ``"a,b"`` or ``["a", "b,c"]``, in order, without blanks or repeats."""
    parts = [rpc_url] if isinstance(rpc_url, str) else list(rpc_url)
    urls: list[str] = []
    for part in parts:
        for url in str(part).split(","):
            url = url.strip()
            if url and url not in urls:
                urls.append(url)
    if not urls:
        raise ValueError("no RPC URL given")
    return urls


class RpcUnavailable(ConnectionError):
    """No endpoint answered a call within its deadline (or it could not safely be sent again)."""


class _Fault(Exception):
    """One attempt's failure: its ``kind`` (a metric label) and whether the request may have been
    executed by the node (``delivered``)."""

    def __init__(self, kind: str, detail: str, *, delivered: bool):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.delivered = delivered


@dataclass
class Endpoint:
    url: str
    label: str
    verified: bool = False
    disabled: str | None = None
    errors: dict[str, int] = field(default_factory=dict)
    failovers: int = 0
    last_error: str | None = None


_COUNTERS: weakref.WeakKeyDictionary[Any, tuple[Any, Any]] = weakref.WeakKeyDictionary()


def _counters(registry: Any) -> tuple[Any, Any]:
    """The two counters, once per registry (a node's async and blocking connections share them)."""
    if registry not in _COUNTERS:
        from prometheus_client import Counter

        _COUNTERS[registry] = (
            Counter(
                "othentic_rpc_errors_total",
                "Failed chain RPC attempts, by endpoint and kind",
                ["endpoint", "kind"],
                registry=registry,
            ),
            Counter(
                "othentic_rpc_failovers_total",
                "Switches away from a failing chain RPC endpoint, by endpoint left",
                ["endpoint"],
                registry=registry,
            ),
        )
    return _COUNTERS[registry]


class FailoverPolicy:
    """The endpoints, which one is active, what is retried and how long to wait: what the async and
    the blocking providers share."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        expect_chain_id: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT,
        backoff: float = 0.2,
        max_backoff: float = 3.0,
        primary_retry_after: float = 30.0,
        registry: Any = None,
    ):
        labels = [redact_url(url) for url in urls]
        self.endpoints = [
            Endpoint(url, label if labels.count(label) == 1 else f"{label}#{i}")
            for i, (url, label) in enumerate(zip(urls, labels))
        ]
        self.expect_chain_id = expect_chain_id
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.primary_retry_after = primary_retry_after
        self.active = 0
        self._left_primary_at: float | None = None
        self._metrics = _counters(registry) if registry is not None else None

    @property
    def urls(self) -> list[str]:
        return [e.url for e in self.endpoints]

    def deadline(self) -> float:
        return time.monotonic() + (_deadline.get() or self.timeout)

    def candidates(self) -> list[Endpoint]:
        """The endpoints to try for a call, the active one first, then the others in order."""
        if self.active and self._left_primary_at is not None:
            if time.monotonic() - self._left_primary_at >= self.primary_retry_after:
                self.active, self._left_primary_at = 0, None
        ordered = self.endpoints[self.active :] + self.endpoints[: self.active]
        return [e for e in ordered if e.disabled is None]

    def failed(self, endpoint: Endpoint, fault: _Fault) -> None:
        endpoint.errors[fault.kind] = endpoint.errors.get(fault.kind, 0) + 1
        endpoint.last_error = fault.detail
        if self._metrics is not None:
            self._metrics[0].labels(endpoint=endpoint.label, kind=fault.kind).inc()
        if self._leave(endpoint):
            endpoint.failovers += 1
            if self._metrics is not None:
                self._metrics[1].labels(endpoint=endpoint.label).inc()
            self._log(
                logging.WARNING,
                "rpc.failover",
                **{"from": endpoint.label, "to": self.endpoints[self.active].label},
                kind=fault.kind,
                error=fault.detail,
            )

    def disable(self, endpoint: Endpoint, reason: str) -> None:
        endpoint.disabled = reason
        self._leave(endpoint)
        self._log(logging.ERROR, "rpc.endpoint_disabled", endpoint=endpoint.label, reason=reason)

    def _leave(self, endpoint: Endpoint) -> bool:
        """If ``endpoint`` is the active one, make the next usable one active; True if it moved."""
        index = self.endpoints.index(endpoint)
        if index != self.active:
            return False
        count = len(self.endpoints)
        for step in range(1, count):
            if self.endpoints[(index + step) % count].disabled is None:
                self.active = (index + step) % count
                if index == 0:
                    self._left_primary_at = time.monotonic()
                return True
        return False

    @staticmethod
    def _log(level: int, step: str, **fields: Any) -> None:
        logger.log(level, step, extra={"fields": {"ts": round(time.time(), 3), "step": step, **fields}})

    def may_resend(self, methods: Sequence[str], fault: _Fault) -> bool:
        return not fault.delivered or all(m in RETRY_SAFE for m in methods)

    def pause(self, round_: int) -> float:
        """Seconds to wait before going round the endpoints again: exponential, with jitter."""
        return min(self.max_backoff, self.backoff * 2**round_) * random.uniform(0.5, 1.0)

    def check_answer(self, response: Any) -> Any:
        """``response``, or a fault for a limit error (sent again like a refused request)."""
        if isinstance(response, dict):
            error = response.get("error")
            if isinstance(error, dict) and error.get("code") in LIMIT_CODES:
                raise _Fault("limited", f"JSON-RPC {error.get('code')}: {error.get('message')}", delivered=False)
        return response

    def check_chain(self, endpoint: Endpoint, raw_chain_id: Any) -> int:
        """The chain id; ``endpoint`` marked verified, or disabled with a ``ValueError`` if it serves
        another chain."""
        try:
            chain_id = int(raw_chain_id, 16) if isinstance(raw_chain_id, str) else int(raw_chain_id)
        except (TypeError, ValueError):
            raise _Fault("bad_answer", f"eth_chainId answered {raw_chain_id!r}", delivered=False) from None
        if self.expect_chain_id is not None and chain_id != self.expect_chain_id:
            reason = f"{endpoint.label} serves chain {chain_id}, but the deployment is on chain {self.expect_chain_id}"
            self.disable(endpoint, reason)
            raise ValueError(reason)
        endpoint.verified = self.expect_chain_id is not None
        return chain_id

    def give_up(self, methods: Sequence[str], faults: list[tuple[Endpoint, _Fault]], why: str) -> RpcUnavailable:
        seen: dict[str, str] = {}
        for endpoint, fault in faults:
            seen[endpoint.label] = fault.detail
        if not seen:
            seen = {e.label: e.disabled or "not tried" for e in self.endpoints}
        detail = "; ".join(f"{label}: {error}" for label, error in seen.items())
        return RpcUnavailable(scrub_urls(f"{'/'.join(methods)} {why} ({detail})", *self.urls))

    def status(self) -> list[dict[str, Any]]:
        """Each endpoint (redacted) with its counts: for a health answer."""
        return [
            {
                "endpoint": e.label,
                "active": i == self.active,
                "verified": e.verified,
                "disabled": e.disabled,
                "errors": dict(e.errors),
                "failovers": e.failovers,
                "lastError": scrub_urls(e.last_error, *self.urls) if e.last_error else None,
            }
            for i, e in enumerate(self.endpoints)
        ]


_HEADERS = {"Content-Type": "application/json"}


def _http_fault(status: int, reason: str) -> _Fault | None:
    if status == 429:
        return _Fault("http_429", f"HTTP 429 {reason}", delivered=False)
    if status >= 500:
        return _Fault("http_5xx", f"HTTP {status} {reason}", delivered=True)
    if status >= 400:
        return _Fault("http_4xx", f"HTTP {status} {reason}", delivered=False)
    return None


def _decode(provider: Any, policy: FailoverPolicy, raw: bytes) -> Any:
    try:
        response = provider.decode_rpc_response(raw)
    except (ValueError, UnicodeDecodeError):
        raise _Fault("bad_answer", f"not a JSON answer: {raw[:80]!r}", delivered=True) from None
    return policy.check_answer(response)


def _batch_sorted(response: Any) -> Any:
    if not isinstance(response, list):
        return response  # an error about the whole batch
    from web3._utils.batching import sort_batch_response_by_response_ids

    return sort_batch_response_by_response_ids(response)


# --- asyncio ----------------------------------------------------------------------------------------


class FailoverAsyncHTTPProvider(_AsyncBase):
    """A web3 ``AsyncBaseProvider`` over several HTTP endpoints (see the module's docstring).

    Connections are kept alive in one ``aiohttp`` session (made on first use, closed by
    :meth:`disconnect`); each attempt waits at most ``attempt_timeout`` seconds."""

    def __init__(self, urls: str | Sequence[str], *, connections: int = 64, **policy: Any):
        super().__init__()
        self.policy = FailoverPolicy(split_rpc_urls(urls), **policy)
        self.endpoint_uri = self.policy.endpoints[0].url
        self.connections = connections
        self._session: Any = None

    def __str__(self) -> str:
        return f"RPC connection {', '.join(e.label for e in self.policy.endpoints)}"

    async def _post(self, endpoint: Endpoint, body: bytes, timeout: float) -> bytes:
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.connections))
        try:
            async with self._session.post(
                endpoint.url, data=body, headers=_HEADERS, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as answer:
                fault = _http_fault(answer.status, answer.reason or "")
                if fault is not None:
                    raise fault
                return await answer.read()
        except TimeoutError:
            raise _Fault("timeout", f"no answer within {timeout:.3g} s", delivered=True) from None
        except aiohttp.ClientConnectorError as exc:
            raise _Fault("refused", f"cannot connect: {exc.os_error or exc}", delivered=False) from None
        except aiohttp.ClientError as exc:
            raise _Fault("dropped", f"{type(exc).__name__}: {exc}", delivered=True) from None

    async def _verify(self, endpoint: Endpoint, timeout: float) -> int:
        raw = await self._post(endpoint, self.encode_rpc_request("eth_chainId", []), timeout)  # type: ignore[arg-type]
        response = _decode(self, self.policy, raw)
        if "result" not in response:
            raise _Fault("bad_answer", f"eth_chainId answered {response.get('error')}", delivered=False)
        return self.policy.check_chain(endpoint, response["result"])

    async def check_endpoints(self) -> int | None:
        """Ask every endpoint its chain id once (concurrently); refuse (``ValueError``) one serving
        another chain or answering with an HTTP error. Returns the chain id one of them answered,
        None when none answered (those are checked before their first use)."""
        policy = self.policy

        async def ask(endpoint: Endpoint) -> int | None:
            try:
                return await self._verify(endpoint, min(policy.attempt_timeout, policy.timeout))
            except _Fault as fault:
                policy.failed(endpoint, fault)
                if fault.kind in ("http_4xx", "bad_answer"):
                    raise ValueError(f"{endpoint.label} is no usable JSON-RPC endpoint: {fault.detail}") from None
                return None

        answers = await asyncio.gather(*(ask(e) for e in policy.endpoints if e.disabled is None))
        return next((a for a in answers if a is not None), None)

    async def _exchange(self, methods: list[str], body: bytes) -> Any:
        policy = self.policy
        deadline = policy.deadline()
        faults: list[tuple[Endpoint, _Fault]] = []
        round_ = 0
        while True:
            candidates = policy.candidates()
            if not candidates:
                raise policy.give_up(methods, faults, "has no usable endpoint")
            for endpoint in candidates:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    if policy.expect_chain_id is not None and not endpoint.verified:
                        try:
                            await self._verify(endpoint, min(policy.attempt_timeout, remaining))
                        except ValueError as exc:
                            faults.append((endpoint, _Fault("wrong_chain", str(exc), delivered=False)))
                            continue
                        remaining = deadline - time.monotonic()
                    raw = await self._post(endpoint, body, min(policy.attempt_timeout, max(remaining, 0.001)))
                    response = _decode(self, policy, raw)
                except _Fault as fault:
                    policy.failed(endpoint, fault)
                    faults.append((endpoint, fault))
                    if not policy.may_resend(methods, fault):
                        raise policy.give_up(methods, faults, "failed and is not sent twice") from None
                    continue
                return response
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise policy.give_up(methods, faults, f"got no answer within {_deadline.get() or policy.timeout:g} s")
            await asyncio.sleep(min(policy.pause(round_), remaining))
            round_ += 1

    async def make_request(self, method: Any, params: Any) -> Any:
        return await self._exchange([str(method)], self.encode_rpc_request(method, params))

    async def make_batch_request(self, batch_requests: list[tuple[Any, Any]]) -> Any:
        body = self.encode_batch_rpc_request(batch_requests)
        return _batch_sorted(await self._exchange([str(m) for m, _ in batch_requests], body))

    async def disconnect(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# --- blocking -----------------------------------------------------------------------------------


class FailoverHTTPProvider(_SyncBase):
    """The blocking twin of :class:`FailoverAsyncHTTPProvider` (a ``requests`` session per thread)."""

    def __init__(self, urls: str | Sequence[str], **policy: Any):
        super().__init__()
        self.policy = FailoverPolicy(split_rpc_urls(urls), **policy)
        self.endpoint_uri = self.policy.endpoints[0].url
        self._local = threading.local()

    def __str__(self) -> str:
        return f"RPC connection {', '.join(e.label for e in self.policy.endpoints)}"

    def _post(self, endpoint: Endpoint, body: bytes, timeout: float) -> bytes:
        import requests

        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        try:
            answer = session.post(endpoint.url, data=body, headers=_HEADERS, timeout=timeout)
        except requests.exceptions.ConnectTimeout:
            raise _Fault("refused", f"no connection within {timeout:.3g} s", delivered=False) from None
        except requests.exceptions.Timeout:
            raise _Fault("timeout", f"no answer within {timeout:.3g} s", delivered=True) from None
        except requests.exceptions.ConnectionError as exc:
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            import urllib3.exceptions

            if isinstance(reason, urllib3.exceptions.NewConnectionError):
                raise _Fault("refused", "cannot connect: connection refused", delivered=False) from None
            raise _Fault("dropped", f"connection dropped: {type(exc).__name__}", delivered=True) from None
        except requests.exceptions.RequestException as exc:
            raise _Fault("dropped", f"{type(exc).__name__}", delivered=True) from None
        fault = _http_fault(answer.status_code, answer.reason or "")
        if fault is not None:
            raise fault
        return answer.content

    def _verify(self, endpoint: Endpoint, timeout: float) -> int:
        raw = self._post(endpoint, self.encode_rpc_request("eth_chainId", []), timeout)  # type: ignore[arg-type]
        response = _decode(self, self.policy, raw)
        if "result" not in response:
            raise _Fault("bad_answer", f"eth_chainId answered {response.get('error')}", delivered=False)
        return self.policy.check_chain(endpoint, response["result"])

    def check_endpoints(self) -> int | None:
        """As :meth:`FailoverAsyncHTTPProvider.check_endpoints`, one endpoint after the other."""
        policy = self.policy
        answered: int | None = None
        for endpoint in [e for e in policy.endpoints if e.disabled is None]:
            try:
                chain_id = self._verify(endpoint, min(policy.attempt_timeout, policy.timeout))
            except _Fault as fault:
                policy.failed(endpoint, fault)
                if fault.kind in ("http_4xx", "bad_answer"):
                    raise ValueError(f"{endpoint.label} is no usable JSON-RPC endpoint: {fault.detail}") from None
                continue
            answered = chain_id if answered is None else answered
        return answered

    def _exchange(self, methods: list[str], body: bytes) -> Any:
        policy = self.policy
        deadline = policy.deadline()
        faults: list[tuple[Endpoint, _Fault]] = []
        round_ = 0
        while True:
            candidates = policy.candidates()
            if not candidates:
                raise policy.give_up(methods, faults, "has no usable endpoint")
            for endpoint in candidates:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    if policy.expect_chain_id is not None and not endpoint.verified:
                        try:
                            self._verify(endpoint, min(policy.attempt_timeout, remaining))
                        except ValueError as exc:
                            faults.append((endpoint, _Fault("wrong_chain", str(exc), delivered=False)))
                            continue
                        remaining = deadline - time.monotonic()
                    raw = self._post(endpoint, body, min(policy.attempt_timeout, max(remaining, 0.001)))
                    response = _decode(self, policy, raw)
                except _Fault as fault:
                    policy.failed(endpoint, fault)
                    faults.append((endpoint, fault))
                    if not policy.may_resend(methods, fault):
                        raise policy.give_up(methods, faults, "failed and is not sent twice") from None
                    continue
                return response
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise policy.give_up(methods, faults, f"got no answer within {_deadline.get() or policy.timeout:g} s")
            time.sleep(min(policy.pause(round_), remaining))
            round_ += 1

    def make_request(self, method: Any, params: Any) -> Any:
        return self._exchange([str(method)], self.encode_rpc_request(method, params))

    def make_batch_request(self, batch_requests: list[tuple[Any, Any]]) -> Any:
        body = self.encode_batch_rpc_request(batch_requests)
        return _batch_sorted(self._exchange([str(m) for m, _ in batch_requests], body))


# --- what nodes and tools call ----------------------------------------------------------------------


def async_web3(rpc_url: str, timeout: float = DEFAULT_TIMEOUT, **policy: Any) -> Any:
    """An ``AsyncWeb3`` on one or several (comma-separated) HTTP JSON-RPC URLs, with fail-over."""
    from web3 import AsyncWeb3

    return AsyncWeb3(FailoverAsyncHTTPProvider(rpc_url, timeout=timeout, **policy))


def sync_web3(
    rpc_url: str, timeout: float = DEFAULT_TIMEOUT, *, expect_chain_id: int | None = None, **policy: Any
) -> Any:
    """A blocking ``Web3`` on one or several (comma-separated) HTTP JSON-RPC URLs, with fail-over,
    for calls made from a worker thread. With ``expect_chain_id``, every endpoint that answers is
    checked now (``ValueError`` for one serving another chain)."""
    from web3 import Web3

    provider = FailoverHTTPProvider(rpc_url, timeout=timeout, expect_chain_id=expect_chain_id, **policy)
    if expect_chain_id is not None:
        provider.check_endpoints()
    w3 = Web3(provider)
    return w3


class RpcConnection:
    """An ``AsyncWeb3`` fit for a node's hot path, over one or several endpoints with fail-over.

    web3's own session closes the connection after every request (a new TCP connection per call),
    and its request validation re-reads ``eth_chainId`` before every call: measured in a devnet,
    an attester's chain checks took 0.7 s per vote that way. The provider here keeps connections
    alive, and the per-call middleware work the nodes' own well-formed calls do not need is dropped.
    ``registry`` (a node's Prometheus registry) receives the per-endpoint error and fail-over counts.
    """

    def __init__(
        self,
        rpc_url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT,
        connections: int = 64,
        registry: Any = None,
    ):
        self.rpc_url = rpc_url
        self.urls = split_rpc_urls(rpc_url)
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.connections = connections
        self.registry = registry
        self.w3: Any = None

    @property
    def provider(self) -> FailoverAsyncHTTPProvider | None:
        return self.w3.provider if self.w3 is not None else None

    async def open(self, expect_chain_id: int | None = None) -> Any:
        """Connect; with ``expect_chain_id``, refuse (ValueError) an endpoint serving another chain.

        Endpoints that do not answer now are checked before their first use; when none answers,
        this waits for one up to the deadline (``RpcUnavailable`` then)."""
        self.w3 = async_web3(
            self.rpc_url,
            self.timeout,
            attempt_timeout=self.attempt_timeout,
            connections=self.connections,
            expect_chain_id=expect_chain_id,
            registry=self.registry,
        )
        for name in ("validation", "ens_name_to_address"):
            try:
                self.w3.middleware_onion.remove(name)
            except Exception:  # not present in this web3 version: nothing to drop
                pass
        if expect_chain_id is not None:
            try:
                if await self.w3.provider.check_endpoints() is None:
                    await self.w3.eth.chain_id  # waits for an endpoint, which is checked first
            except BaseException:
                await self.close()
                raise
        return self.w3

    async def close(self) -> None:
        if self.w3 is not None:
            try:
                await self.w3.provider.disconnect()
            except Exception:
                pass
            self.w3 = None
