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
import threading
import time
from collections.abc import Sequence
from typing import Any

from web3.providers.async_base import AsyncJSONBaseProvider as _AsyncBase
from web3.providers.base import JSONBaseProvider as _SyncBase

from othentic_offchain.chain.failover import (
    DEADLINE,
    DEFAULT_ATTEMPT_TIMEOUT,
    DEFAULT_TIMEOUT,
    HEADERS,
    RETRY_SAFE,
    Endpoint,
    FailoverPolicy,
    Fault,
    RpcUnavailable,
    decode_answer,
    http_fault,
    rpc_deadline,
    sorted_batch,
    split_rpc_urls,
)

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
                endpoint.url, data=body, headers=HEADERS, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as answer:
                fault = http_fault(answer.status, answer.reason or "")
                if fault is not None:
                    raise fault
                return await answer.read()
        except TimeoutError:
            raise Fault("timeout", f"no answer within {timeout:.3g} s", delivered=True) from None
        except aiohttp.ClientConnectorError as exc:
            raise Fault("refused", f"cannot connect: {exc.os_error or exc}", delivered=False) from None
        except aiohttp.ClientError as exc:
            raise Fault("dropped", f"{type(exc).__name__}: {exc}", delivered=True) from None

    async def _verify(self, endpoint: Endpoint, timeout: float) -> int:
        raw = await self._post(endpoint, self.encode_rpc_request("eth_chainId", []), timeout)  # type: ignore[arg-type]
        response = decode_answer(self, self.policy, raw)
        if "result" not in response:
            raise Fault("bad_answer", f"eth_chainId answered {response.get('error')}", delivered=False)
        return self.policy.check_chain(endpoint, response["result"])

    async def check_endpoints(self) -> int | None:
        """Ask every endpoint its chain id once (concurrently); refuse (``ValueError``) one serving
        another chain (a configuration error). One answering with an HTTP error or no JSON-RPC (an
        expired API key, a maintenance page) is disabled, logged, and left out, unless no endpoint
        is left: then ``ValueError`` names them. Returns the chain id one of them answered, None
        when none answered (those are checked before their first use)."""
        policy = self.policy

        async def ask(endpoint: Endpoint) -> int | None:
            try:
                return await self._verify(endpoint, min(policy.attempt_timeout, policy.timeout))
            except Fault as fault:
                policy.failed(endpoint, fault)
                if fault.kind in ("http_4xx", "bad_answer"):
                    policy.disable(endpoint, f"{endpoint.label} is no usable JSON-RPC endpoint: {fault.detail}")
                return None

        answers = await asyncio.gather(*(ask(e) for e in policy.endpoints if e.disabled is None))
        policy.require_usable()
        return next((a for a in answers if a is not None), None)

    async def _exchange(self, methods: list[str], body: bytes) -> Any:
        policy = self.policy
        deadline = policy.deadline()
        faults: list[tuple[Endpoint, Fault]] = []
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
                            faults.append((endpoint, Fault("wrong_chain", str(exc), delivered=False)))
                            continue
                        remaining = deadline - time.monotonic()
                    raw = await self._post(endpoint, body, min(policy.attempt_timeout, max(remaining, 0.001)))
                    response = decode_answer(self, policy, raw)
                except Fault as fault:
                    policy.failed(endpoint, fault)
                    faults.append((endpoint, fault))
                    if not policy.may_resend(methods, fault):
                        raise policy.give_up(methods, faults, "failed and is not sent twice") from None
                    continue
                return response
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise policy.give_up(methods, faults, f"got no answer within {DEADLINE.get() or policy.timeout:g} s")
            await asyncio.sleep(min(policy.pause(round_), remaining))
            round_ += 1

    async def make_request(self, method: Any, params: Any) -> Any:
        return await self._exchange([str(method)], self.encode_rpc_request(method, params))

    async def make_batch_request(self, batch_requests: list[tuple[Any, Any]]) -> Any:
        body = self.encode_batch_rpc_request(batch_requests)
        return sorted_batch(await self._exchange([str(m) for m, _ in batch_requests], body))

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
            answer = session.post(endpoint.url, data=body, headers=HEADERS, timeout=timeout)
        except requests.exceptions.ConnectTimeout:
            raise Fault("refused", f"no connection within {timeout:.3g} s", delivered=False) from None
        except requests.exceptions.Timeout:
            raise Fault("timeout", f"no answer within {timeout:.3g} s", delivered=True) from None
        except requests.exceptions.ConnectionError as exc:
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            import urllib3.exceptions

            if isinstance(reason, urllib3.exceptions.NewConnectionError):
                raise Fault("refused", "cannot connect: connection refused", delivered=False) from None
            raise Fault("dropped", f"connection dropped: {type(exc).__name__}", delivered=True) from None
        except requests.exceptions.RequestException as exc:
            raise Fault("dropped", f"{type(exc).__name__}", delivered=True) from None
        fault = http_fault(answer.status_code, answer.reason or "")
        if fault is not None:
            raise fault
        return answer.content

    def _verify(self, endpoint: Endpoint, timeout: float) -> int:
        raw = self._post(endpoint, self.encode_rpc_request("eth_chainId", []), timeout)  # type: ignore[arg-type]
        response = decode_answer(self, self.policy, raw)
        if "result" not in response:
            raise Fault("bad_answer", f"eth_chainId answered {response.get('error')}", delivered=False)
        return self.policy.check_chain(endpoint, response["result"])

    def check_endpoints(self) -> int | None:
        """As :meth:`FailoverAsyncHTTPProvider.check_endpoints`, one endpoint after the other."""
        policy = self.policy
        answered: int | None = None
        for endpoint in [e for e in policy.endpoints if e.disabled is None]:
            try:
                chain_id = self._verify(endpoint, min(policy.attempt_timeout, policy.timeout))
            except Fault as fault:
                policy.failed(endpoint, fault)
                if fault.kind in ("http_4xx", "bad_answer"):
                    policy.disable(endpoint, f"{endpoint.label} is no usable JSON-RPC endpoint: {fault.detail}")
                continue
            answered = chain_id if answered is None else answered
        policy.require_usable()
        return answered

    def _exchange(self, methods: list[str], body: bytes) -> Any:
        policy = self.policy
        deadline = policy.deadline()
        faults: list[tuple[Endpoint, Fault]] = []
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
                            faults.append((endpoint, Fault("wrong_chain", str(exc), delivered=False)))
                            continue
                        remaining = deadline - time.monotonic()
                    raw = self._post(endpoint, body, min(policy.attempt_timeout, max(remaining, 0.001)))
                    response = decode_answer(self, policy, raw)
                except Fault as fault:
                    policy.failed(endpoint, fault)
                    faults.append((endpoint, fault))
                    if not policy.may_resend(methods, fault):
                        raise policy.give_up(methods, faults, "failed and is not sent twice") from None
                    continue
                return response
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise policy.give_up(methods, faults, f"got no answer within {DEADLINE.get() or policy.timeout:g} s")
            time.sleep(min(policy.pause(round_), remaining))
            round_ += 1

    def make_request(self, method: Any, params: Any) -> Any:
        return self._exchange([str(method)], self.encode_rpc_request(method, params))

    def make_batch_request(self, batch_requests: list[tuple[Any, Any]]) -> Any:
        body = self.encode_batch_rpc_request(batch_requests)
        return sorted_batch(self._exchange([str(m) for m, _ in batch_requests], body))


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
