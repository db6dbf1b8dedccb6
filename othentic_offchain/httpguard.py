"""Every HTTP server of the package runs behind :class:`GuardedAppRunner`: slow or idle clients
cannot hold its connections, one address cannot take them all, and a storm of identical log lines
is throttled.

Without it, 999 half-sent requests held every file descriptor of a node (aiohttp waits an hour for
an idle connection by default), ``health`` took seconds and "Too many open files" filled the log.
The guard adds:

* a **head timeout** (``header_timeout``): a connection that has not sent a whole request head
  within it, after connecting or after its previous answer, is closed (aiohttp's keep-alive
  timer, which also runs before the first request);
* a **body timeout** (``body_timeout``): a request whose body is still incomplete that long after
  its head arrived is closed; a handler busy with a complete request is never interrupted;
* a **per-address cap** (``max_per_peer``): connections beyond it from one address are closed at
  once. Loopback peers are exempt by default (``cap_loopback=False``): on one machine every node,
  and a local reverse proxy, share 127.0.0.1, and their pooled keep-alive connections would hit
  the cap; a remote address is what the cap is for.

:func:`json_errors` is the answer half: a middleware that turns what aiohttp refuses by itself (an
unknown route, another HTTP method, a body over ``client_max_size``) and an exception a handler let
escape into JSON ``{"error": code, "message": text}``, the nodes' and the proof server's error
shape, instead of aiohttp's text pages.

:class:`RepeatFilter` is the log half (installed by ``configure_logging``): the same line more
than ``burst`` times in ``window`` seconds is dropped, and the next one that passes says how many
were.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

__all__ = ["DEFAULT_LIMITS", "ConnectionLimits", "GuardedAppRunner", "RepeatFilter", "json_errors"]

logger = logging.getLogger("othentic.http")


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 20.0
    body_timeout: float = 30.0
    max_per_peer: int = 128
    cap_loopback: bool = False
    check_interval: float = 0.5


DEFAULT_LIMITS = ConnectionLimits()


class GuardedAppRunner(web.AppRunner):
    """``web.AppRunner`` with the limits above; used exactly like it."""

    def __init__(self, app: web.Application, *, limits: ConnectionLimits = DEFAULT_LIMITS, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", limits.header_timeout)
        super().__init__(app, **kwargs)
        self.limits = limits
        self._per_peer: Counter[str] = Counter()
        self._peer_of: dict[RequestHandler, str] = {}
        # per connection: the request whose body is awaited, and since when (watchdog time)
        self._body_since: dict[RequestHandler, tuple[web.BaseRequest, float]] = {}
        self._watchdog: asyncio.Task[None] | None = None
        #: Connections closed by the guard, by reason (for tests and metrics).
        self.closed: Counter[str] = Counter()

    async def setup(self) -> None:
        await super().setup()
        server = self.server
        assert server is not None
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: RequestHandler, transport: asyncio.Transport) -> None:
            made(handler, transport)
            peer = transport.get_extra_info("peername")
            address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
            if not self.limits.cap_loopback and _is_loopback(address):
                return
            self._peer_of[handler] = address
            self._per_peer[address] += 1
            if self._per_peer[address] > self.limits.max_per_peer:
                self.closed["max_per_peer"] += 1
                logger.warning(
                    "closing a connection from %s: it has more than %d open", address, self.limits.max_per_peer
                )
                handler.force_close()

        def connection_lost(handler: RequestHandler, exc: BaseException | None = None) -> None:
            self._body_since.pop(handler, None)
            address = self._peer_of.pop(handler, None)
            if address is not None:
                self._per_peer[address] -= 1
                if self._per_peer[address] <= 0:
                    del self._per_peer[address]
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]
        self._watchdog = asyncio.get_running_loop().create_task(self._watch(server))

    async def cleanup(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        await super().cleanup()

    async def _watch(self, server: web.Server) -> None:
        """Close connections whose request body has been arriving for longer than the limit."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.limits.check_interval)
            now = loop.time()
            for handler in server.connections:
                # aiohttp (pinned) keeps the request being handled here; None between requests,
                # where the head timeout (keep-alive timer) applies instead.
                request = getattr(handler, "_current_request", None)
                if request is None or request.content.is_eof():
                    self._body_since.pop(handler, None)
                    continue
                seen = self._body_since.get(handler)
                if seen is None or seen[0] is not request:
                    seen = self._body_since[handler] = (request, now)
                if now - seen[1] > self.limits.body_timeout:
                    self.closed["body_timeout"] += 1
                    logger.warning(
                        "closing a connection from %s: request body incomplete after %g s",
                        self._peer_of.get(handler, "?"),
                        self.limits.body_timeout,
                    )
                    handler.force_close()


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own refusals (4xx) and a handler's escaped exception (500) as JSON
    ``{"error": code, "message": text}``; the codes are ``not_found``, ``method_not_allowed``
    (with ``Allow``), ``too_large``, ``bad_request`` for any other 4xx, ``internal_error``."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "bad_request" if exc.status < 500 else "internal_error")
        if exc.status == 404:
            message = f"no route {request.method} {request.path}"
        elif exc.status == 405:
            allowed = sorted(getattr(exc, "allowed_methods", ()) or ())
            message = f"method {request.method} not allowed on {request.path}; use {' or '.join(allowed) or 'another'}"
        elif exc.status == 413:
            message = f"request body too large: the limit is {request.client_max_size} bytes"
        else:
            message = exc.text or exc.reason
        response = web.json_response({"error": code, "message": message}, status=exc.status)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception as exc:  # a bug: still a JSON answer, and the traceback in the log
        logger.exception("%s %s: the handler failed", request.method, request.path)
        return web.json_response({"error": "internal_error", "message": f"{type(exc).__name__}: {exc}"}, status=500)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class RepeatFilter(logging.Filter):
    """Drops a line repeated more than ``burst`` times within ``window`` seconds: the same logger,
    level and text (for a structured step line, the same fields but its timestamp)."""

    def __init__(self, burst: int = 5, window: float = 10.0, clock: Any = time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self.clock = clock
        self._counts: dict[tuple[str, int, str], tuple[float, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            text = repr(sorted((k, repr(v)) for k, v in fields.items() if k != "ts"))
        else:
            try:
                text = record.getMessage()
            except (TypeError, ValueError):
                text = str(record.msg)
        key = (record.name, record.levelno, text)
        now = self.clock()
        start, count, dropped = self._counts.get(key, (now, 0, 0))
        if now - start >= self.window:
            start, count = now, 0
        count += 1
        if count > self.burst:
            self._counts[key] = (start, count, dropped + 1)
            return False
        self._counts[key] = (start, count, 0)
        if len(self._counts) > 1000:  # forget old keys; the filter must not grow without bound
            self._counts = {k: v for k, v in self._counts.items() if now - v[0] < self.window}
        if dropped:
            if isinstance(fields, dict):
                record.fields = {**fields, "suppressed": dropped}
            else:
                record.msg = f"{record.msg} [{dropped} similar messages suppressed]"
        return True
