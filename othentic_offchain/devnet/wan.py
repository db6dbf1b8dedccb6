"""Hosts apart on one machine: each simulated host is a Linux network namespace, and every
connection between hosts passes through a relay that adds wide-area delay, jitter and dropped
connections, and can partition a host from the others.

    with Hosts(4, tag="bench") as hosts:              # namespaces othentic-bench-0..3, one veth each
        with WanRelay(hosts, LinkProfile(20, 150, jitter_ms=10, drop_rate=0.01)) as wan:
            url = wan.expose(2, 8545)                  # host 2's port 8545, as every host reaches it
            hosts.popen(0, ["curl", url])              # from host 0: through the relay, delayed
            wan.partition(2); ...; wan.heal(2)

Layout: host ``i`` has one address, ``10.213.i.2/30``, on a veth whose other end (``10.213.i.1``)
stays in the machine's own namespace, and a default route through it. The machine does not forward
between the veths (its own ``ip_forward`` is left as it is, and no host is given another host's
address), so a host reaches nothing but addresses local to the machine's namespace. One of those is
the relay's: ``10.213.255.1``, added to the machine's end of host 0's veth. A host's service is
published as ``http://10.213.255.1:PORT``, the same URL for every host; the relay sees which host
called from the source address and applies that pair's link.

This kernel has no ``netem`` queueing discipline, hence the relay in user space: each chunk of data
is delivered ``delay + jitter`` milliseconds after it arrived (one way; order kept), the connection
to the destination is opened after one one-way delay, and a dropped connection is closed at once
or after a random number of bytes. ``tc`` rate limits (``tbf``/``htb``) still work on the veths if a
test wants bandwidth limits.

Everything created is named ``othentic-<tag>-*`` (bounded: at most :data:`MAX_HOSTS` hosts) and
removed on exit, also after a crash of the block; :func:`remove_leftovers` removes what a killed
process left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import random
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Hosts",
    "LinkProfile",
    "MAX_HOSTS",
    "RELAY_ADDRESS",
    "WanRelay",
    "WanUnavailable",
    "check_available",
    "remove_leftovers",
    "wait_listening",
]

MAX_HOSTS = 50
RELAY_ADDRESS = "10.213.255.1"
_PREFIX = "othentic-"
_TAG = re.compile(r"^[a-z0-9]{1,8}$")


class WanUnavailable(RuntimeError):
    """Namespaces cannot be made here (not root, no ``ip``, or the kernel refuses)."""


def _ip(*args: str, namespace: str | None = None) -> str:
    command = ["ip", *args] if namespace is None else ["ip", "netns", "exec", namespace, "ip", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise WanUnavailable(f"`{' '.join(command)}` failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def check_available() -> None:
    """Raises :class:`WanUnavailable` saying why namespaces cannot be used here."""
    if shutil.which("ip") is None:
        raise WanUnavailable("the `ip` command (iproute2) is not installed")
    if os.geteuid() != 0:
        raise WanUnavailable("network namespaces need root")
    if not os.path.isdir("/proc/sys/net"):
        raise WanUnavailable("no /proc/sys/net: not a Linux network stack")


def remove_leftovers(tag: str | None = None) -> list[str]:
    """Remove namespaces and interfaces of ``tag`` (every tag when None) that a killed run left:
    namespaces ``othentic-<tag>-N`` and veths ``othv<tag>N``; returns their names."""
    word = re.escape(tag) if tag else "[a-z0-9]{1,8}"
    namespaces = re.compile(rf"^{re.escape(_PREFIX)}{word}-\d+$")
    links = re.compile(rf"^othv{word}\d+$")
    removed: list[str] = []
    with contextlib.suppress(WanUnavailable):
        for line in _ip("netns", "list").splitlines():
            name = line.split()[0] if line.strip() else ""
            if namespaces.match(name):
                with contextlib.suppress(WanUnavailable):
                    _ip("netns", "delete", name)
                    removed.append(name)
        for line in _ip("-o", "link", "show").splitlines():
            parts = line.split(":")
            name = parts[1].strip().split("@")[0] if len(parts) > 1 else ""
            if links.match(name):
                with contextlib.suppress(WanUnavailable):
                    _ip("link", "delete", name)
                    removed.append(name)
    return removed


class Hosts:
    """``count`` simulated hosts (network namespaces), created on enter and removed on exit."""

    def __init__(self, count: int, *, tag: str = "wan"):
        if not 1 <= count <= MAX_HOSTS:
            raise ValueError(f"between 1 and {MAX_HOSTS} hosts, got {count}")
        if not _TAG.match(tag):
            raise ValueError(f"tag must be 1 to 8 lowercase letters or digits, got {tag!r}")
        self.count = count
        self.tag = tag
        self.created: list[str] = []  # namespaces and links, in creation order

    def namespace(self, host: int) -> str:
        return f"{_PREFIX}{self.tag}-{host}"

    def address(self, host: int) -> str:
        """The host's own address (what the relay sees as the source of its connections)."""
        return f"10.213.{host}.2"

    def gateway(self, host: int) -> str:
        return f"10.213.{host}.1"

    def host_of(self, address: str) -> int | None:
        """Which host ``address`` belongs to (None: not one of ours)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        octets = str(ip).split(".")
        if ip.version == 4 and octets[:2] == ["10", "213"] and octets[3] == "2" and int(octets[2]) < self.count:
            return int(octets[2])
        return None

    def __enter__(self) -> Hosts:
        check_available()
        remove_leftovers(self.tag)
        try:
            for host in range(self.count):
                self._make(host)
            # The relay's address sits on host 0's outer veth end: local to the machine, so every
            # host reaches it through its own gateway (it goes when the veth goes).
            _ip("addr", "add", f"{RELAY_ADDRESS}/32", "dev", f"othv{self.tag}0")
        except BaseException:
            self.remove()
            raise
        return self

    def _make(self, host: int) -> None:
        ns = self.namespace(host)
        outside, inside = f"othv{self.tag}{host}", f"othi{self.tag}{host}"
        _ip("netns", "add", ns)
        self.created.append(ns)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        self.created.append(outside)
        _ip("link", "set", inside, "netns", ns)
        _ip("addr", "add", f"{self.gateway(host)}/30", "dev", outside)
        _ip("link", "set", outside, "up")
        _ip("link", "set", "lo", "up", namespace=ns)
        _ip("addr", "add", f"{self.address(host)}/30", "dev", inside, namespace=ns)
        _ip("link", "set", inside, "up", namespace=ns)
        _ip("route", "add", "default", "via", self.gateway(host), namespace=ns)

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def remove(self) -> None:
        """Delete every namespace and link this object created (deleting a namespace deletes its
        end of the veth, and with it the pair)."""
        for name in reversed(self.created):
            with contextlib.suppress(WanUnavailable):
                if name.startswith(_PREFIX):
                    _ip("netns", "delete", name)
                else:
                    _ip("link", "delete", name)
        self.created.clear()

    def wrap(self, host: int, command: Sequence[str]) -> list[str]:
        """``command`` run inside ``host``'s namespace."""
        return ["ip", "netns", "exec", self.namespace(host), *command]

    def popen(self, host: int, command: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        return subprocess.Popen(self.wrap(host, command), **kwargs)

    def run(self, host: int, command: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
        return subprocess.run(self.wrap(host, command), **kwargs)


@dataclass
class LinkProfile:
    """Links between hosts: each pair's one-way delay is drawn once in ``[min_ms, max_ms]`` (the
    same both ways, from ``seed``), each chunk adds up to ``jitter_ms``, and a connection is
    dropped with probability ``drop_rate``. ``machine_ms``, when given, is the one-way delay
    between any host and the machine itself (the chain's RPC, services every operator would run
    next to its node): otherwise drawn like a pair of hosts."""

    min_ms: float = 20.0
    max_ms: float = 150.0
    jitter_ms: float = 0.0
    drop_rate: float = 0.0
    seed: int = 1
    machine_ms: float | None = None
    _pairs: dict[tuple[int, int], float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.min_ms <= self.max_ms:
            raise ValueError(f"need 0 <= min_ms <= max_ms, got {self.min_ms} and {self.max_ms}")
        if self.jitter_ms < 0 or not 0 <= self.drop_rate <= 1:
            raise ValueError("jitter_ms must be >= 0 and drop_rate within [0, 1]")
        if self.machine_ms is not None and self.machine_ms < 0:
            raise ValueError(f"machine_ms must be >= 0, got {self.machine_ms}")

    def delay_ms(self, a: int | None, b: int | None) -> float:
        """One-way delay between hosts ``a`` and ``b`` (None: the machine itself, e.g. the chain)."""
        if a == b:
            return 0.0
        if self.machine_ms is not None and (a is None or b is None):
            return self.machine_ms
        key = (
            min(a if a is not None else -1, b if b is not None else -1),
            max(a if a is not None else -1, b if b is not None else -1),
        )
        if key not in self._pairs:
            self._pairs[key] = random.Random(hash((self.seed, key))).uniform(self.min_ms, self.max_ms)
        return self._pairs[key]


class WanRelay:
    """The relay every connection between hosts passes through (its own thread and event loop)."""

    def __init__(self, hosts: Hosts, profile: LinkProfile | None = None):
        self.hosts = hosts
        self.profile = profile or LinkProfile()
        self.counts: Counter[str] = Counter()  # connections: relayed, dropped, refused (partition)
        self._partitioned: set[int] = set()
        self._listeners: dict[tuple[int | None, int], tuple[int, asyncio.AbstractServer]] = {}
        self._open: dict[int, set[asyncio.StreamWriter]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="wan-relay", daemon=True)
        self._rng = random.Random(self.profile.seed)

    def __enter__(self) -> WanRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _close(self) -> None:
        for _port, server in self._listeners.values():
            server.close()
        for writers in self._open.values():
            for writer in list(writers):
                writer.close()
        self._listeners.clear()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:  # connections still being relayed
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def expose(self, host: int | None, port: int, *, target_host: str | None = None) -> str:
        """The URL (``http://10.213.255.1:P``) at which every host reaches ``port`` on ``host``
        (None: on the machine itself, at ``target_host`` or 127.0.0.1, e.g. the chain's RPC)."""
        key = (host, port)
        if key not in self._listeners:
            target = (target_host or "127.0.0.1") if host is None else self.hosts.address(host)
            future = asyncio.run_coroutine_threadsafe(self._listen(host, target, port), self._loop)
            self._listeners[key] = future.result(10)
        return f"http://{RELAY_ADDRESS}:{self._listeners[key][0]}"

    async def _listen(self, host: int | None, target: str, port: int) -> tuple[int, asyncio.AbstractServer]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._relay(host, target, port, reader, writer)

        server = await asyncio.start_server(handle, RELAY_ADDRESS, 0)
        return int(server.sockets[0].getsockname()[1]), server

    def partition(self, host: int) -> None:
        """Cut ``host`` off: its open connections close, new ones to or from it are refused."""
        self._partitioned.add(host)
        self._loop.call_soon_threadsafe(self._cut, host)

    def heal(self, host: int) -> None:
        self._partitioned.discard(host)

    def _cut(self, host: int) -> None:
        for writer in list(self._open.get(host, ())):
            writer.close()

    async def _relay(
        self,
        destination: int | None,
        target: str,
        port: int,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
    ) -> None:
        peer = client_writer.get_extra_info("peername")
        source = self.hosts.host_of(peer[0]) if peer else None
        if source in self._partitioned or destination in self._partitioned:
            self.counts["refused"] += 1
            client_writer.close()
            return
        profile = self.profile
        delay = profile.delay_ms(source, destination) / 1000
        drop_after: int | None = None
        if profile.drop_rate and self._rng.random() < profile.drop_rate:
            self.counts["dropped"] += 1
            drop_after = self._rng.choice([0, self._rng.randint(1, 4096)])
            if drop_after == 0:
                client_writer.close()
                return
        await asyncio.sleep(delay)  # the handshake's way out
        try:
            server_reader, server_writer = await asyncio.open_connection(target, port)
        except OSError:
            self.counts["unreachable"] += 1
            client_writer.close()
            return
        self.counts["relayed"] += 1
        writers = (client_writer, server_writer)
        for side in (source, destination):
            if side is not None:
                self._open.setdefault(side, set()).update(writers)
        budget = [drop_after]
        try:
            await asyncio.gather(
                self._pipe(client_reader, server_writer, delay, budget),
                self._pipe(server_reader, client_writer, delay, budget),
            )
        finally:
            for writer in writers:
                writer.close()
            for side in (source, destination):
                if side is not None:
                    self._open.get(side, set()).difference_update(writers)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, budget: list[int | None]
    ) -> None:
        """Copy ``reader`` to ``writer``, each chunk delivered ``delay`` (+ jitter) after it arrived,
        in order; closes both ways when either side ends or the drop budget runs out."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        jitter = self.profile.jitter_ms / 1000

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not chunk:
                    break
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        last = 0.0
        try:
            while True:
                chunk = await reader.read(65536)
                due = max(last, loop.time() + delay + (self._rng.uniform(0, jitter) if jitter else 0.0))
                last = due
                if budget[0] is not None:
                    budget[0] -= len(chunk)
                    if budget[0] <= 0:
                        chunk = b""
                await queue.put((due, chunk))
                if not chunk:
                    break
            await sender
        except (ConnectionError, OSError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(Exception):
                writer.close()


def wait_listening(hosts: Hosts, host: int, port: int, timeout: float = 10.0) -> None:
    """Block until something listens on ``port`` inside ``host`` (for tests and benches)."""
    deadline = time.monotonic() + timeout
    probe = ["python3", "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}), 1)"]
    while hosts.run(host, probe, capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on port {port} in host {host} after {timeout} s")
        time.sleep(0.05)
