"""The machine the throughput bench runs on: CPU time and memory of processes from /proc, how
busy every core is, the CPU model, and the bench's progress lines (on stderr)."""

from __future__ import annotations

import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

#: The key of the whole machine's busy CPU seconds in a CPU snapshot (every process, ours and others').
MACHINE = "machine (every process)"


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def rss_mb(pid: int | None) -> float:
    """VmRSS of a process in MiB (nan when it is gone)."""
    if pid is None:
        return float("nan")
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine (every process, ours and others'), from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    guest = sum(values[8:10]) if len(values) > 9 else 0  # already counted in user and nice
    return (sum(values) - idle - guest) / _TICKS


def wait_for_quiet(limit: float, threshold: float = 15.0, window: float = 3.0) -> float:
    """Wait (at most ``limit`` seconds) until the machine's CPU is below ``threshold`` % busy over
    ``window`` seconds: other users' load competes with the network. Returns the last reading."""
    deadline = time.monotonic() + limit
    while True:
        before, t0 = machine_cpu_seconds(), time.monotonic()
        time.sleep(window)
        busy = 100 * (machine_cpu_seconds() - before) / ((os.cpu_count() or 1) * (time.monotonic() - t0))
        if busy < threshold or time.monotonic() > deadline:
            return busy
        say(f"the machine is {busy:.0f} % busy with other processes: waiting for it to calm down")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(anvil_version: str) -> str:
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores ({cpu_model()}); "
        f"Python {platform.python_version()}; {anvil_version}"
    )
