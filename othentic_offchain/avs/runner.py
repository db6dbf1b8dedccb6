"""Start and stop an aiohttp app on a port, in the running loop or in a thread of its own.

Services, nodes and tests all need the same three things: bind (port 0 picks a free one and the
real port is reported back), stop without leaking sockets or tasks, and a blocking ``serve`` for
the command line that shuts down cleanly on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

from aiohttp import web

from othentic_offchain.httpguard import GuardedAppRunner

__all__ = ["ServiceRunner", "ServiceThread", "serve"]


class ServiceRunner:
    """One app on one host and port, inside the current event loop.

    ``async with ServiceRunner(app) as runner: ... runner.url ...``
    """

    def __init__(
        self, app: web.Application, host: str = "127.0.0.1", port: int = 0, *, shutdown_timeout: float = 5.0
    ) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """Base URL of the running app (``http://127.0.0.1:4002``)."""
        if self.port is None:
            raise RuntimeError("the service is not running; await start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> str:
        """Bind and start serving; returns the base URL with the port actually bound."""
        if self._runner is not None:
            raise RuntimeError("already started")
        # access_log=None: the services log their own structured line per step.
        runner = GuardedAppRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=self._shutdown_timeout
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        return self.url

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish (up to the shutdown timeout), close."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self.port = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


async def serve(
    app: web.Application, host: str = "127.0.0.1", port: int = 0, *, ready: Callable[[str], None] | None = None
) -> None:
    """Serve until cancelled (Ctrl-C under ``asyncio.run``), then shut down cleanly.

    ``ready`` is called with the base URL once the port is bound, so a CLI can print where it
    listens and a supervisor can wait for it.
    """
    async with ServiceRunner(app, host, port) as runner:
        if ready is not None:
            ready(runner.url)
        await asyncio.Event().wait()


class ServiceThread:
    """One app served by an event loop in a background thread, for synchronous callers.

    ``with ServiceThread(app) as service: requests.post(service.url + "/task/validate", ...)``
    """

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = ServiceRunner(app, host, port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None
        self._started = threading.Event()
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        return self._runner.url

    def start(self, timeout: float = 10.0) -> str:
        """Start the thread and wait until the port is bound; returns the base URL."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name="othentic-avs-service", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError(f"service did not start within {timeout:g} s")
        if self._failure is not None:
            raise RuntimeError(f"service failed to start: {self._failure}") from self._failure
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the app down and join the thread."""
        if self._thread is None:
            return
        if self._loop is not None and self._stopped is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"service thread did not stop within {timeout:g} s")
        self._thread = None

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        try:
            await self._runner.start()
        except BaseException as exc:
            self._failure = exc
            self._started.set()
            return
        self._started.set()
        try:
            await self._stopped.wait()
        finally:
            await self._runner.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
