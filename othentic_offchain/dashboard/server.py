"""The dashboard's web server: one page, its script and style, and one JSON endpoint.

    server = DashboardServer(DashboardSource(aggregator_url, record, rpc_url), port=8080)
    url = await server.start()        # http://127.0.0.1:8080/
    ...
    await server.stop()

Routes: ``GET /`` (the page), ``GET /static/<file>`` (its script and style, shipped in the package
next to this module: no build step), ``GET /api/state`` (the snapshot the page renders, see
:mod:`~othentic_offchain.dashboard.source`), ``GET /health``. Read-only: the server has no key
and changes nothing. The page's Content-Security-Policy allows only this origin's own script,
style and fetches (no inline script), so a string from the chain that slipped into markup could
still not run; the page itself only ever writes such strings as text.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from aiohttp import web

from othentic_offchain.dashboard.source import DashboardSource
from othentic_offchain.httpguard import GuardedAppRunner, json_errors

#: The files under /static/, and their content types: nothing else is served.
STATIC_FILES = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _asset(name: str) -> bytes:
    return resources.files("othentic_offchain.dashboard").joinpath("static", name).read_bytes()


class DashboardServer:
    def __init__(self, source: DashboardSource, *, host: str = "127.0.0.1", port: int = 0):
        self.source = source
        self.host = host
        self.port = port
        self.url: str | None = None
        self._assets = {name: _asset(name) for name in (*STATIC_FILES, "index.html")}
        self.app = web.Application(middlewares=[_security_headers, json_errors])
        self.app.router.add_get("/", self._index)
        self.app.router.add_get("/static/{name}", self._static)
        self.app.router.add_get("/api/state", self._state)
        self.app.router.add_get("/health", self._health)
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Start the source (connects to the chain) and serve; returns the page's URL."""
        await self.source.start()
        try:
            self._runner = GuardedAppRunner(self.app, access_log=None, shutdown_timeout=2.0)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port)
            await site.start()
        except BaseException:
            await self.stop()
            raise
        port = int(self._runner.addresses[0][1])
        self.url = f"http://{self.host}:{port}/"
        return self.url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        await self.source.close()

    async def _index(self, _request: web.Request) -> web.Response:
        return web.Response(body=self._assets["index.html"], content_type="text/html", charset="utf-8")

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        content_type = STATIC_FILES.get(name)
        if content_type is None:
            raise web.HTTPNotFound(text=f"no file {name[:100]!r} here")
        return web.Response(body=self._assets[name], content_type=content_type, charset="utf-8")

    async def _state(self, _request: web.Request) -> web.Response:
        return web.json_response(await self.source.snapshot())

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


@web.middleware
async def _security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response = await handler(request)
    response.headers.update(_SECURITY_HEADERS)
    return response
