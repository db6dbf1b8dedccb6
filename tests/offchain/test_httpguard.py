"""Idle and half-sent connections are closed, one address cannot take every connection, and
repeated log lines are throttled; every server of the package runs behind the guard."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from othentic_offchain.avs.runner import ServiceRunner
from othentic_offchain.httpguard import ConnectionLimits, GuardedAppRunner, RepeatFilter
from othentic_offchain.proofs import LocalProofStore, start_proof_server

FAST = ConnectionLimits(header_timeout=0.6, body_timeout=0.6, max_per_peer=128, check_interval=0.1)


def _app() -> web.Application:
    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/echo", echo)
    return app


async def _serve(limits: ConnectionLimits) -> tuple[GuardedAppRunner, int]:
    runner = GuardedAppRunner(_app(), limits=limits, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, int(runner.addresses[0][1])


async def _health(port: int) -> float:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200")
    return time.monotonic() - started


async def _closed(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        while True:
            data = await asyncio.wait_for(reader.read(65536), within)
            if not data:
                return True
    except ConnectionError:
        return True
    except TimeoutError:
        return False


def test_idle_and_half_sent_connections_are_closed_after_the_timeout_and_health_stays_fast():
    async def scenario():
        runner, port = await _serve(FAST)
        try:
            connections = []
            for n in range(120):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                if n % 3 == 1:  # half a request head
                    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le")
                elif n % 3 == 2:  # a whole head, a tenth of the body
                    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
                connections.append((reader, writer))  # n % 3 == 0: nothing at all
            await asyncio.sleep(0.1)
            assert await _health(port) < 0.5
            closed = await asyncio.gather(*(_closed(reader, 3.0) for reader, _ in connections))
            assert all(closed), f"{closed.count(False)} connections still open"
            assert runner.closed["body_timeout"] == 40
            assert await _health(port) < 0.5
            for _, writer in connections:
                writer.close()
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_a_slow_handler_with_a_complete_request_is_not_interrupted():
    async def scenario():
        runner, port = await _serve(FAST)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nab")
            await asyncio.sleep(0.3)  # slow, but within the body timeout
            writer.write(b"cd")
            answer = await asyncio.wait_for(reader.read(), 5)
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"abcd")
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_connections_beyond_the_per_address_cap_are_closed_at_once():
    async def scenario():
        limits = ConnectionLimits(header_timeout=30, body_timeout=30, max_per_peer=5, cap_loopback=True)
        runner, port = await _serve(limits)
        try:
            connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(8)]
            closed = await asyncio.gather(*(_closed(reader, 0.5) for reader, _ in connections))
            assert closed.count(True) == 3 and runner.closed["max_per_peer"] == 3
            for _, writer in connections:
                writer.close()
            await asyncio.sleep(0.1)
            assert await _health(port) < 0.5  # the slots were given back
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_loopback_peers_are_not_capped_by_default():
    async def scenario():
        runner, port = await _serve(ConnectionLimits(header_timeout=30, body_timeout=30, max_per_peer=5))
        try:
            connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(8)]
            closed = await asyncio.gather(*(_closed(reader, 0.3) for reader, _ in connections))
            assert not any(closed) and runner.closed["max_per_peer"] == 0
            for _, writer in connections:
                writer.close()
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def test_every_server_of_the_package_runs_behind_the_guard(tmp_path):
    async def scenario():
        async with ServiceRunner(_app()) as service:
            assert isinstance(service._runner, GuardedAppRunner)
            assert service._runner.server is not None
        proofs = await start_proof_server(LocalProofStore(tmp_path, durable=False))
        try:
            assert isinstance(proofs.runner, GuardedAppRunner)
        finally:
            await proofs.close()

    asyncio.run(scenario())
    # The aggregator builds its own runner: it must be the guarded one too.
    from othentic_offchain.nodes.aggregator import node

    assert node.GuardedAppRunner is GuardedAppRunner


def test_repeated_identical_log_lines_are_throttled_and_counted():
    now = [0.0]
    repeat = RepeatFilter(burst=3, window=10.0, clock=lambda: now[0])

    def record(msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, msg, args, None)

    passed = [repeat.filter(record("accept failed: %s", "Too many open files")) for _ in range(1000)]
    assert passed.count(True) == 3
    assert repeat.filter(record("another message"))
    now[0] = 11.0
    again = record("accept failed: %s", "Too many open files")
    assert repeat.filter(again) and "997 similar messages suppressed" in again.getMessage()
