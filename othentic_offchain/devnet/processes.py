"""Running the network's pieces as separate OS processes, and stopping every one of them.

A :class:`Supervisor` starts commands (each with its own log file), waits until each prints its
"... listening on <url>" line (every long-running ``othentic`` command prints one), and stops
them all on ``stop()``, at interpreter exit, and when the supervising process dies (Linux:
``PR_SET_PDEATHSIG``), so neither a test nor ``othentic devnet`` leaves a process behind.

Secrets stay off command lines and out of the logs: a ``--private-key KEY`` in a command is taken
out of it and handed to the child as ``$PRIVATE_KEY`` (which every ``othentic`` command reads),
so ``ps`` never shows it, and the command line written to the log has every 32-byte hex value
redacted.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from othentic_offchain.devnet.anvil import _parent_death_signal
from othentic_offchain.nodes.common.redact import redact_keys

#: Command-line options whose value is a secret, and the environment variable that carries it instead.
_SECRET_OPTIONS = {"--private-key": "PRIVATE_KEY"}

_LISTENING = re.compile(r"listening on (\S+)")


class ProcessFailed(RuntimeError):
    """A process exited, or did not come up in time; the message holds the end of its log."""


@dataclass
class Managed:
    name: str
    command: list[str]
    log_path: Path
    proc: subprocess.Popen
    url: str | None = None
    started_at: float = field(default_factory=time.monotonic)
    log_offset: int = 0  # where this run's output starts in the (appended) log file

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    @property
    def listening_url(self) -> str:
        """The URL the process said it listens on (every process started waiting for it has one)."""
        if self.url is None:
            raise RuntimeError(f"{self.name} has not said where it listens")
        return self.url

    def output(self) -> str:
        """What this run of the process wrote (earlier runs of the same name are above it)."""
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(self.log_offset)
                return handle.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])


def othentic_command(*args: str) -> list[str]:
    """``othentic ARGS`` run by this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "othentic_offchain.cli", *args]


def lift_secrets(command: list[str]) -> tuple[list[str], dict[str, str]]:
    """``command`` without its secret options, and the environment that passes them instead."""
    public: list[str] = []
    env: dict[str, str] = {}
    args = iter(command)
    for arg in args:
        option, equals, value = arg.partition("=")
        if option in _SECRET_OPTIONS:
            env[_SECRET_OPTIONS[option]] = value if equals else next(args, "")
            continue
        public.append(arg)
    return public, env


class Supervisor:
    def __init__(
        self, log_dir: str | os.PathLike, *, env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None
    ):
        self.cwd = cwd
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.processes: dict[str, Managed] = {}
        atexit.register(self.stop_all)

    def start(
        self,
        name: str,
        command: list[str],
        *,
        wait_for_url: bool = True,
        timeout: float = 60.0,
        env: dict[str, str] | None = None,
    ) -> Managed:
        """Start ``command``; with ``wait_for_url`` return once it printed its listening line."""
        if name in self.processes and self.processes[name].running:
            raise ProcessFailed(f"{name} is already running")
        command, secret_env = lift_secrets(command)
        log_path = self.log_dir / f"{name}.log"
        # Appended, so a restart keeps the log of the run that crashed.
        log = open(log_path, "ab")
        shown = redact_keys(" ".join(command))
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} started: {shown}\n".encode())
        log.flush()
        offset = log.tell()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**self.env, **(env or {}), **secret_env},
            cwd=self.cwd,
            preexec_fn=_parent_death_signal(),
            start_new_session=True,  # Ctrl-C in a terminal reaches the supervisor, which stops the rest
        )
        log.close()
        managed = Managed(name, command, log_path, proc, log_offset=offset)
        self.processes[name] = managed
        if wait_for_url:
            self.wait_ready(managed, timeout)
        return managed

    def start_many(self, specs: list[tuple[str, list[str]]], timeout: float = 90.0) -> list[Managed]:
        """Start several at once (their start-up overlaps), then wait for every one."""
        started = [self.start(name, command, wait_for_url=False) for name, command in specs]
        for managed in started:
            self.wait_ready(managed, timeout)
        return started

    def wait_ready(self, managed: Managed, timeout: float) -> str:
        deadline = managed.started_at + timeout
        while True:
            match = _LISTENING.search(managed.output())
            if match:
                managed.url = match.group(1).rstrip(".,")
                return managed.url
            if not managed.running:
                raise ProcessFailed(
                    f"{managed.name} exited with status {managed.proc.returncode} before listening:\n{managed.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise ProcessFailed(f"{managed.name} did not listen within {timeout:.0f} s:\n{managed.log_tail()}")
            time.sleep(0.05)

    def stop(self, name: str, *, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Stop one process (SIGTERM, then SIGKILL after ``timeout``); SIGKILL at once with ``sig``."""
        managed = self.processes.get(name)
        if managed is None or not managed.running:
            return
        try:
            os.killpg(managed.proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            managed.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(managed.proc.pid, signal.SIGKILL)
            managed.proc.wait()

    def kill(self, name: str) -> None:
        """SIGKILL, no chance to clean up: for crash tests."""
        self.stop(name, sig=signal.SIGKILL)

    def stop_all(self, timeout: float = 10.0) -> None:
        running = [m for m in self.processes.values() if m.running]
        for managed in running:
            try:
                os.killpg(managed.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for managed in running:
            try:
                managed.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(managed.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                managed.proc.wait()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_all()
