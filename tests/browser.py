"""A real browser for tests and the docs' screenshot: headless Chromium driven over the DevTools
protocol (a websocket, through aiohttp).

    async with HeadlessChromium() as browser:
        await browser.goto(url)
        row = await browser.wait_for("document.querySelector('tr[data-status=landed]')?.dataset")
        await browser.screenshot(path)

:meth:`HeadlessChromium.wait_for` waits for the page itself: a ``MutationObserver`` in the page
re-checks the condition on every change of the DOM and answers as soon as it holds (or fails after
the timeout with the page's text), so a test waits for the event, not for a guessed time.

Chromium is Debian's ``chromium`` package (``scripts/setup.sh`` installs it); :func:`chromium_binary`
says where it is, or None.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

_DEVTOOLS = re.compile(rb"DevTools listening on (ws://\S+)")


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    """The browser did not start, or the page did not do what was waited for."""


class HeadlessChromium:
    def __init__(self, binary: str | None = None, *, width: int = 1440, height: int = 1000, start_timeout: float = 30):
        self.binary = binary or chromium_binary()
        if self.binary is None:
            raise BrowserError("no chromium on PATH (scripts/setup.sh installs Debian's chromium)")
        self.width, self.height = width, height
        self.start_timeout = start_timeout
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._profile: str | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._tasks: list[asyncio.Task] = []
        self.stderr: list[bytes] = []

    async def __aenter__(self) -> HeadlessChromium:
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def _start(self) -> None:
        self._profile = tempfile.mkdtemp(prefix="headless-chromium-")
        assert self.binary is not None
        self._proc = await asyncio.create_subprocess_exec(
            self.binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={self._profile}",
            f"--window-size={self.width},{self.height}",
            "about:blank",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._tasks.append(asyncio.create_task(self._drain_stderr(listening)))
        try:
            browser_ws = await asyncio.wait_for(listening, self.start_timeout)
        except TimeoutError:
            raise BrowserError(f"chromium did not open its DevTools port: {self._stderr_tail()}") from None
        port = re.search(r"ws://[^:/]+:(\d+)/", browser_ws)
        assert port is not None
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port.group(1)}/json/list") as response:
            targets = await response.json()
        pages = [t for t in targets if t.get("type") == "page"]
        if not pages:
            raise BrowserError(f"chromium has no page target: {targets}")
        self._ws = await self._session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=64 << 20)
        self._tasks.append(asyncio.create_task(self._read()))
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=self.width,
            height=self.height,
            deviceScaleFactor=1,
            mobile=False,
        )

    async def _drain_stderr(self, listening: asyncio.Future) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for line in self._proc.stderr:
            self.stderr.append(line)
            del self.stderr[:-200]
            found = _DEVTOOLS.search(line)
            if found and not listening.done():
                listening.set_result(found.group(1).decode())
        if not listening.done():
            listening.set_exception(BrowserError(f"chromium exited: {self._stderr_tail()}"))

    def _stderr_tail(self) -> str:
        return b"".join(self.stderr[-20:]).decode(errors="replace")

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(BrowserError(f"DevTools error: {data['error']}"))
                    else:
                        future.set_result(data.get("result", {}))
            else:
                for future in self._waiters.pop(data.get("method", ""), []):
                    if not future.done():
                        future.set_result(data.get("params", {}))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BrowserError(f"the DevTools connection closed: {self._stderr_tail()}"))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; its result."""
        assert self._ws is not None
        request_id = next(self._ids)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self._ws.send_str(json.dumps({"id": request_id, "method": method, "params": params}))
        return await future

    def _event(self, method: str) -> asyncio.Future:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(method, []).append(future)
        return future

    async def goto(self, url: str, timeout: float = 30) -> None:
        """Open ``url`` and wait for its load event."""
        loaded = self._event("Page.loadEventFired")
        answer = await self.send("Page.navigate", url=url)
        if answer.get("errorText"):
            raise BrowserError(f"could not open {url}: {answer['errorText']}")
        await asyncio.wait_for(loaded, timeout)

    async def evaluate(self, expression: str, *, await_promise: bool = False) -> Any:
        answer = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=await_promise, returnByValue=True
        )
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"the page threw: {text}")
        return answer.get("result", {}).get("value")

    async def wait_for(self, condition: str, timeout: float = 60) -> Any:
        """The value of the JavaScript expression ``condition`` once it is truthy: re-evaluated in
        the page on every DOM change; a :class:`BrowserError` with the page's text after
        ``timeout`` seconds."""
        script = f"""
new Promise((resolve, reject) => {{
  let observer = null, timer = null;
  const check = () => {{
    let value;
    try {{ value = ({condition}); }} catch (error) {{ value = null; }}
    if (value) {{
      if (observer) observer.disconnect();
      clearTimeout(timer);
      resolve(value);
      return true;
    }}
    return false;
  }};
  if (check()) return;
  observer = new MutationObserver(check);
  observer.observe(document, {{subtree: true, childList: true, attributes: true, characterData: true}});
  timer = setTimeout(() => {{
    observer.disconnect();
    reject(new Error("timed out after {timeout} s; the page says: " + document.body.innerText.slice(0, 3000)));
  }}, {int(timeout * 1000)});
}})"""
        return await self.evaluate(script, await_promise=True)

    async def screenshot(self, path: str | Path, *, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = await self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
            params["captureBeyondViewport"] = True
        answer = await self.send("Page.captureScreenshot", **params)
        import base64

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(answer["data"]))
        return out

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None
