"""Fail-over between a node's RPC endpoints: which endpoint serves a call, what is sent twice, how
long to wait. The providers that use it are in :mod:`othentic_offchain.chain.rpc` (read its
docstring for the behaviour); this module holds what the asyncio and the blocking one share.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from othentic_offchain.nodes.common.redact import redact_url, scrub_urls

__all__ = [
    "DEADLINE",
    "LIMIT_CODES",
    "RETRY_SAFE",
    "Endpoint",
    "FailoverPolicy",
    "Fault",
    "RpcUnavailable",
    "rpc_deadline",
    "split_rpc_urls",
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
        # Not a read, but the same signed bytes execute at most once (see chain/rpc.py's docstring).
        "eth_sendRawTransaction",
    }
)
#: JSON-RPC error codes providers answer when a caller exceeds its limits.
LIMIT_CODES = frozenset({-32005, 429})
DEFAULT_TIMEOUT = 30.0
DEFAULT_ATTEMPT_TIMEOUT = 10.0

#: The deadline :func:`rpc_deadline` sets for the calls made inside it (None: the policy's timeout).
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("othentic_rpc_deadline", default=None)


@contextlib.contextmanager
def rpc_deadline(seconds: float) -> Iterator[None]:
    """Calls made inside give up after ``seconds`` in all (e.g. a health probe that must answer fast)."""
    token = DEADLINE.set(seconds)
    try:
        yield
    finally:
        DEADLINE.reset(token)


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


class Fault(Exception):
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
        return time.monotonic() + (DEADLINE.get() or self.timeout)

    def candidates(self) -> list[Endpoint]:
        """The endpoints to try for a call, the active one first, then the others in order."""
        if self.active and self._left_primary_at is not None:
            if time.monotonic() - self._left_primary_at >= self.primary_retry_after:
                self.active, self._left_primary_at = 0, None
        ordered = self.endpoints[self.active :] + self.endpoints[: self.active]
        return [e for e in ordered if e.disabled is None]

    def failed(self, endpoint: Endpoint, fault: Fault) -> None:
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

    def require_usable(self) -> None:
        """``ValueError`` naming why, when every endpoint is disabled."""
        if all(e.disabled is not None for e in self.endpoints):
            raise ValueError("; ".join(str(e.disabled) for e in self.endpoints))

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

    def may_resend(self, methods: Sequence[str], fault: Fault) -> bool:
        return not fault.delivered or all(m in RETRY_SAFE for m in methods)

    def pause(self, round_: int) -> float:
        """Seconds to wait before going round the endpoints again: exponential, with jitter."""
        return min(self.max_backoff, self.backoff * 2**round_) * random.uniform(0.5, 1.0)

    def check_answer(self, response: Any) -> Any:
        """``response``, or a fault for a limit error (sent again like a refused request)."""
        if isinstance(response, dict):
            error = response.get("error")
            if isinstance(error, dict) and error.get("code") in LIMIT_CODES:
                raise Fault("limited", f"JSON-RPC {error.get('code')}: {error.get('message')}", delivered=False)
        return response

    def check_chain(self, endpoint: Endpoint, raw_chain_id: Any) -> int:
        """The chain id; ``endpoint`` marked verified, or disabled with a ``ValueError`` if it serves
        another chain."""
        try:
            chain_id = int(raw_chain_id, 16) if isinstance(raw_chain_id, str) else int(raw_chain_id)
        except (TypeError, ValueError):
            raise Fault("bad_answer", f"eth_chainId answered {raw_chain_id!r}", delivered=False) from None
        if self.expect_chain_id is not None and chain_id != self.expect_chain_id:
            reason = f"{endpoint.label} serves chain {chain_id}, but the deployment is on chain {self.expect_chain_id}"
            self.disable(endpoint, reason)
            raise ValueError(reason)
        endpoint.verified = self.expect_chain_id is not None
        return chain_id

    def give_up(self, methods: Sequence[str], faults: list[tuple[Endpoint, Fault]], why: str) -> RpcUnavailable:
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


HEADERS = {"Content-Type": "application/json"}


def http_fault(status: int, reason: str) -> Fault | None:
    if status == 429:
        return Fault("http_429", f"HTTP 429 {reason}", delivered=False)
    if status >= 500:
        return Fault("http_5xx", f"HTTP {status} {reason}", delivered=True)
    if status >= 400:
        return Fault("http_4xx", f"HTTP {status} {reason}", delivered=False)
    return None


def decode_answer(provider: Any, policy: FailoverPolicy, raw: bytes) -> Any:
    try:
        response = provider.decode_rpc_response(raw)
    except (ValueError, UnicodeDecodeError):
        raise Fault("bad_answer", f"not a JSON answer: {raw[:80]!r}", delivered=True) from None
    return policy.check_answer(response)


def sorted_batch(response: Any) -> Any:
    if not isinstance(response, list):
        return response  # an error about the whole batch
    from web3._utils.batching import sort_batch_response_by_response_ids

    return sort_batch_response_by_response_ids(response)
