"""Fetching and storing proofs over HTTP, trusting no server.

Whatever a proof server or gateway sends is re-hashed against the CID that was asked for before
it is returned, and the CID a server assigns on upload is checked against the one computed
locally: an attester's decision can only ever rest on the bytes the performer committed to.

Every request has a timeout (a ``total`` bound, so a server that trickles bytes cannot stall a
node), and every response body is read with a size cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import aiohttp
from multiformats import CID

from othentic_offchain import safejson
from othentic_offchain.proofs.cid import compute_cid, ensure_supported, raw_cid_text, verify_cid
from othentic_offchain.proofs.errors import (
    CidMismatch,
    InvalidCid,
    ProofError,
    ProofNotFound,
    ProofStoreFull,
    ProofStoreUnavailable,
    ProofTooLarge,
    UnsupportedCid,
)
from othentic_offchain.proofs.store import DEFAULT_MAX_SIZE, LocalProofStore

#: Seconds allowed for one whole request (connect, send, receive).
DEFAULT_TIMEOUT = 10.0

#: Public IPFS gateways that serve ``/ipfs/<cid>``; not used unless passed to :func:`fetch_proof`,
#: so that nothing leaves the machine by default.
PUBLIC_GATEWAYS: tuple[str, ...] = ("https://ipfs.io", "https://dweb.link")

_READ_CHUNK = 64 * 1024

__all__ = ["ProofStoreClient", "fetch_proof", "DEFAULT_TIMEOUT", "PUBLIC_GATEWAYS"]


def _client_timeout(seconds: float) -> aiohttp.ClientTimeout:
    if seconds is None or not seconds > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {seconds!r}")
    return aiohttp.ClientTimeout(total=seconds)


async def _server_message(response: aiohttp.ClientResponse) -> str:
    """What a failing server said, short enough for an exception message."""
    try:
        text = (await response.content.read(4096)).decode("utf-8", errors="replace")
    except (aiohttp.ClientError, TimeoutError):
        return response.reason or ""
    with contextlib.suppress(ValueError):
        answer = safejson.loads(text)
        if isinstance(answer, dict) and answer.get("message"):
            return str(answer["message"])
    return text.strip()[:300] or (response.reason or "")


def _unavailable(url: str, exc: BaseException, timeout: float) -> ProofStoreUnavailable:
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, TimeoutError):
        detail += f" (no complete answer within {timeout} s)"
    return ProofStoreUnavailable(f"{url} failed: {detail}")


async def _read_capped(response: aiohttp.ClientResponse, limit: int, url: str) -> bytes:
    declared = response.content_length
    if declared is not None and declared > limit:
        raise ProofTooLarge(declared, limit, f"response from {url}")
    body = bytearray()
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        body += chunk
        if len(body) > limit:
            raise ProofTooLarge(limit + 1, limit, f"response from {url}", at_least=True)
    return bytes(body)


async def _fetch_verified(
    session: aiohttp.ClientSession, url: str, cid: CID, *, timeout: float, max_size: int
) -> bytes:
    """GET ``url`` and return its body only if it is the content ``cid`` names."""
    try:
        async with session.get(
            url, timeout=_client_timeout(timeout), headers={"Accept": "application/octet-stream"}
        ) as response:
            if response.status in (404, 410):
                raise ProofNotFound(f"{url} does not have {cid}: {await _server_message(response)}")
            if response.status >= 500 or response.status == 429:
                raise ProofStoreUnavailable(f"{url} answered {response.status}: {await _server_message(response)}")
            if response.status != 200:
                raise ProofNotFound(f"{url} answered {response.status} for {cid}: {await _server_message(response)}")
            content = await _read_capped(response, max_size, url)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _unavailable(url, exc, timeout) from exc
    try:
        verify_cid(cid, content)
    except CidMismatch as exc:
        raise CidMismatch(f"{url} served {len(content)} bytes that are not {cid}: {exc}") from exc
    return content


class ProofStoreClient:
    """Talks to a proof server (:mod:`.server`) or anything answering ``GET /ipfs/<cid>``.

    Use it as ``async with ProofStoreClient(url) as client:`` to reuse one connection pool across
    calls; used bare, each call opens and closes its own session, which is slower but cannot leak.
    An existing ``aiohttp.ClientSession`` can be passed in and is then never closed here.
    """

    def __init__(
        self,
        base_url: str,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        _client_timeout(timeout)  # refuse a missing or non-positive timeout now, not at first use
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_size = max_size
        self._session = session
        self._owns_session = False

    def __repr__(self) -> str:
        return f"ProofStoreClient({self.base_url!r}, timeout={self.timeout})"

    async def __aenter__(self) -> ProofStoreClient:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session this client opened (a session passed in is left to its owner)."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
            self._owns_session = False

    @contextlib.asynccontextmanager
    async def _use_session(self) -> AsyncIterator[aiohttp.ClientSession]:
        if self._session is not None:
            yield self._session
            return
        async with aiohttp.ClientSession() as session:
            yield session

    async def put(self, content: bytes) -> str:
        """Upload ``content`` and return its CIDv1 raw, after checking the server agrees on it.

        The CID is computed here too, so a server that records the proof under another name (a bug
        or a lie) raises :class:`CidMismatch` instead of sending a task no attester can verify.
        """
        content = bytes(content)
        if len(content) > self.max_size:
            raise ProofTooLarge(len(content), self.max_size)
        expected = compute_cid(content, max_size=None)
        url = f"{self.base_url}/proofs"
        try:
            async with self._use_session() as session:
                async with session.post(
                    url,
                    data=content,
                    headers={"Content-Type": "application/octet-stream"},
                    timeout=_client_timeout(self.timeout),
                ) as response:
                    if response.status == 413:
                        answer = await _json_or_empty(response)
                        limit = answer.get("maxSize")
                        raise ProofTooLarge(len(content), int(limit) if isinstance(limit, int) else None)
                    if response.status == 507:
                        raise ProofStoreFull(f"{url} refused the proof: {await _server_message(response)}")
                    if response.status not in (200, 201):
                        raise ProofStoreUnavailable(
                            f"{url} answered {response.status}: {await _server_message(response)}"
                        )
                    answer = await _json_or_empty(response)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _unavailable(url, exc, self.timeout) from exc
        returned = answer.get("cid")
        if not isinstance(returned, str):
            raise ProofStoreUnavailable(f"{url} answered without a CID: {answer!r}")
        try:
            agrees = raw_cid_text(returned) == expected
        except (InvalidCid, UnsupportedCid, ValueError):
            agrees = False
        if not agrees:
            raise CidMismatch(f"{url} stored the proof as {returned!r}, but its CID is {expected}")
        return expected

    async def get(self, cid: str | CID) -> bytes:
        """The content named ``cid``, verified; raises :class:`CidMismatch` if the server lies."""
        parsed = ensure_supported(cid)
        async with self._use_session() as session:
            return await _fetch_verified(
                session, f"{self.base_url}/ipfs/{parsed}", parsed, timeout=self.timeout, max_size=self.max_size
            )

    async def health(self) -> dict[str, Any]:
        """The server's ``/health`` answer; raises :class:`ProofStoreUnavailable` if it is not healthy."""
        url = f"{self.base_url}/health"
        try:
            async with self._use_session() as session:
                async with session.get(url, timeout=_client_timeout(self.timeout)) as response:
                    if response.status != 200:
                        raise ProofStoreUnavailable(f"{url} answered {response.status}")
                    return await _json_or_empty(response)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _unavailable(url, exc, self.timeout) from exc


async def _json_or_empty(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        answer = await response.json(content_type=None)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


# Most telling failure first: a source that served wrong bytes matters more than one that had none.
_SEVERITY: tuple[type[ProofError], ...] = (
    CidMismatch,
    UnsupportedCid,
    ProofTooLarge,
    ProofNotFound,
    ProofStoreUnavailable,
)


def _give_up(cid: CID, attempts: list[tuple[str, ProofError]]) -> ProofError:
    message = f"could not fetch proof {cid} ({len(attempts)} sources tried): " + "; ".join(
        str(error) if str(error).startswith(source) else f"{source}: {error}" for source, error in attempts
    )
    kind = next((k for k in _SEVERITY if any(isinstance(e, k) for _, e in attempts)), ProofStoreUnavailable)
    error: ProofError
    if kind is ProofTooLarge:
        first = next(e for _, e in attempts if isinstance(e, ProofTooLarge))
        error = ProofTooLarge(first.size, first.limit, message=message)
    else:
        error = kind(message)
    error.attempts = tuple(attempts)
    return error


Source = tuple[str, Callable[[], Awaitable[bytes]]]


async def fetch_proof(
    cid_or_url: str | CID,
    gateways: Sequence[str] = (),
    *,
    store: LocalProofStore | ProofStoreClient | str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_size: int = DEFAULT_MAX_SIZE,
    session: aiohttp.ClientSession | None = None,
) -> bytes:
    """The verified content of a ``proofOfTask``, from the first source that has it.

    Tried in order: the URL itself when ``cid_or_url`` is an ``http(s)`` gateway URL, then
    ``store`` (a :class:`LocalProofStore` in this process, a :class:`ProofStoreClient`, or the base
    URL of a proof server), then each of ``gateways`` as ``<gateway>/ipfs/<cid>``. A source that
    serves wrong bytes is skipped like one that has nothing, so one lying gateway cannot stop an
    attester from getting the proof elsewhere; if every source fails, the error raised is the most
    telling one (:class:`CidMismatch`, then :class:`UnsupportedCid` for a multi-chunk file, then
    :class:`ProofTooLarge`, :class:`ProofNotFound`, :class:`ProofStoreUnavailable`), with every
    attempt in its message and in ``attempts``.
    """
    _client_timeout(timeout)
    cid = ensure_supported(cid_or_url)
    async with contextlib.AsyncExitStack() as stack:
        if session is None:
            session = await stack.enter_async_context(aiohttp.ClientSession())
        fetch_url = functools.partial(_fetch_verified, session, cid=cid, timeout=timeout, max_size=max_size)

        sources: list[Source] = []
        if isinstance(cid_or_url, str) and cid_or_url.strip().lower().startswith(("http://", "https://")):
            sources.append((cid_or_url.strip(), functools.partial(fetch_url, cid_or_url.strip())))
        if isinstance(store, LocalProofStore):
            sources.append((f"local store {store.folder}", functools.partial(asyncio.to_thread, store.get, cid)))
        elif isinstance(store, ProofStoreClient):
            sources.append((store.base_url, functools.partial(store.get, cid)))
        elif isinstance(store, str):
            url = f"{store.rstrip('/')}/ipfs/{cid}"
            sources.append((url, functools.partial(fetch_url, url)))
        for gateway in gateways:
            url = f"{gateway.rstrip('/')}/ipfs/{cid}"
            sources.append((url, functools.partial(fetch_url, url)))
        if not sources:
            raise ProofNotFound(f"no source to fetch proof {cid} from: pass a store, gateways or a URL")

        attempts: list[tuple[str, ProofError]] = []
        for label, fetch in sources:
            try:
                return await fetch()
            except (CidMismatch, UnsupportedCid, ProofTooLarge, ProofNotFound, ProofStoreUnavailable) as exc:
                attempts.append((label, exc))
    raise _give_up(cid, attempts)
