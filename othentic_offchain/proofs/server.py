"""The proof store over HTTP, shaped like an IPFS gateway so attesters need nothing special.

* ``POST /proofs``: the request body, as is (any content type), becomes a proof;
  answers ``201 {"cid", "cidV0", "size"}``, or ``507 store_full`` once the store's quota (bytes,
  proofs) is reached.
* ``GET /ipfs/{cid}``: the bytes, as ``application/octet-stream``, for a ``bafk...``, ``Qm...`` or
  ``bafybei...`` CID; ``404`` if unknown, ``400`` if the CID is malformed or of an unsupported kind.
* ``GET /health``: ``{"status": "ok", "maxSize": n}``.

Because reads use the gateway path, the same client code fetches from this server and from any
public IPFS gateway. Errors are JSON ``{"error": <code>, "message": <text>}``, aiohttp's own refusals
(an unknown route, another method) included.

Uploads are read as a stream and cut off as soon as they pass the store's limit, and a declared
``Content-Length`` over the limit is refused before any of the body is read, so a client cannot
make the server buffer more than ``max_size`` bytes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web

# aiohttp's own handler (private, but aiohttp is pinned): what to do for every other Expect case
from aiohttp.web_urldispatcher import _default_expect_handler as _default_expect

from othentic_offchain.httpguard import GuardedAppRunner, json_errors
from othentic_offchain.proofs.cid import CHUNK_SIZE, compute_cid_v0, ensure_supported
from othentic_offchain.proofs.errors import (
    CidMismatch,
    InvalidCid,
    ProofNotFound,
    ProofStoreFull,
    ProofTooLarge,
    UnsupportedCid,
)
from othentic_offchain.proofs.store import LocalProofStore

log = logging.getLogger(__name__)

STORE_KEY: web.AppKey[LocalProofStore] = web.AppKey("proof_store", LocalProofStore)

_READ_CHUNK = 64 * 1024
#: ``Cache-Control`` of a served proof: content behind a CID can never change.
_IMMUTABLE = "public, max-age=29030400, immutable"

__all__ = ["build_proof_app", "start_proof_server", "serve_proofs", "RunningProofServer", "STORE_KEY"]


def _error(status: int, code: str, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


def _too_large(size: int, limit: int, *, lower_bound: bool) -> web.Response:
    amount = f"more than {limit}" if lower_bound else str(size)
    return _error(413, "too_large", f"proof is {amount} bytes, over the limit of {limit} bytes", maxSize=limit)


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed ``limit`` (the rest is never read)."""
    body = bytearray()
    async for chunk in request.content.iter_chunked(_READ_CHUNK):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def _expect_upload(request: web.Request) -> web.StreamResponse | None:
    """Answer ``Expect: 100-continue`` with 413 at once when the declared size is over the limit.

    aiohttp's default would say "continue" first and make the client send a body that will only
    be refused.
    """
    limit = request.app[STORE_KEY].max_size
    declared = request.content_length
    if request.headers.get("Expect", "").lower() == "100-continue" and declared is not None and declared > limit:
        return _too_large(declared, limit, lower_bound=False)
    await _default_expect(request)
    return None


async def _post_proof(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    limit = store.max_size
    declared = request.content_length
    if declared is not None and declared > limit:
        return _too_large(declared, limit, lower_bound=False)
    content = await _read_limited(request, limit)
    if content is None:
        return _too_large(limit + 1, limit, lower_bound=True)
    try:
        cid = await asyncio.to_thread(store.put, content)
    except ProofTooLarge as exc:  # the store's own check, should the two limits ever differ
        return _too_large(exc.size, limit if exc.limit is None else exc.limit, lower_bound=False)
    except ProofStoreFull as exc:
        log.warning("proof refused: %s", exc)
        return _error(507, "store_full", str(exc))
    cid_v0 = compute_cid_v0(content) if len(content) <= CHUNK_SIZE else None
    log.info("proof stored cid=%s size=%d", cid, len(content))
    return web.json_response(
        {"cid": cid, "cidV0": cid_v0, "size": len(content)},
        status=201,
        headers={"Location": f"/ipfs/{cid}"},
    )


async def _get_proof(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE_KEY]
    text = request.match_info["cid"]
    try:
        cid = ensure_supported(text)
    except InvalidCid as exc:
        return _error(400, "invalid_cid", str(exc))
    except UnsupportedCid as exc:
        return _error(400, "unsupported_cid", str(exc))
    try:
        content = await asyncio.to_thread(store.get, cid)
    except ProofNotFound:
        # the store's own message names its folder, which is no business of a remote client
        return _error(404, "not_found", f"no proof {cid} here")
    except CidMismatch as exc:
        log.error("refusing to serve corrupted proof cid=%s: %s", cid, exc)
        return _error(500, "corrupted", f"the stored copy of {cid} is corrupted and was not served")
    return web.Response(
        body=content,
        content_type="application/octet-stream",
        headers={"ETag": f'"{cid}"', "Cache-Control": _IMMUTABLE, "X-Ipfs-Path": f"/ipfs/{cid}"},
    )


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "maxSize": request.app[STORE_KEY].max_size})


def build_proof_app(store: LocalProofStore) -> web.Application:
    """An aiohttp application serving ``store``; mount it or run it with :func:`start_proof_server`.

    ``client_max_size`` is set to the store's limit as a second guard, for any handler that might
    one day read the body whole; the upload handler streams and does not rely on it.
    """
    app = web.Application(client_max_size=max(store.max_size, 1), middlewares=[json_errors])
    app[STORE_KEY] = store
    app.router.add_post("/proofs", _post_proof, expect_handler=_expect_upload)
    app.router.add_get("/ipfs/{cid}", _get_proof)
    app.router.add_get("/health", _health)
    return app


@dataclass
class RunningProofServer:
    """A started proof server: where it listens, and how to stop it."""

    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_proof_server(store: LocalProofStore, host: str = "127.0.0.1", port: int = 0) -> RunningProofServer:
    """Start serving ``store`` and return at once; ``port=0`` picks a free port (see ``.port``).

    Returning a handle instead of blocking lets a node run the proof server beside its other
    services in one event loop.
    """
    runner = GuardedAppRunner(build_proof_app(store), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = port
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            bound_port = int(address[1])
            break
    log.info("proof server listening on %s:%d (store %s)", host, bound_port, store.folder)
    return RunningProofServer(runner, host, bound_port)


async def serve_proofs(store: LocalProofStore, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve ``store`` until cancelled (Ctrl-C under ``asyncio.run``), then shut down cleanly."""
    server = await start_proof_server(store, host, port)
    try:
        await asyncio.Event().wait()
    finally:
        await server.close()
