"""Where the throughput bench's time goes: per-step durations from the nodes' JSON logs, and the
hottest functions of the nodes run under cProfile (``--profile``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from throughput_load import Phase
from throughput_machine import say

from othentic_offchain.devnet.stats import median


def read_steps(log_dir: Path) -> tuple[dict[str, dict[str, dict]], dict[str, list[dict]]]:
    """{task hash: {step: record}} of the aggregator and {task hash: [attester records by step]}."""
    aggregator: dict[str, dict[str, dict]] = {}
    attesters: dict[str, list[dict]] = {}
    for path in sorted(log_dir.glob("*.log")):
        is_aggregator = path.name == "aggregator.log"
        if not (is_aggregator or path.name.startswith("attester-")):
            continue
        per_task: dict[str, dict[str, dict]] = {}
        with open(path, errors="replace") as handle:
            for line in handle:
                if not line.startswith("{"):
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                task = record.get("task")
                step = record.get("step")
                if task and step:
                    per_task.setdefault(task, {}).setdefault(step, record)
        if is_aggregator:
            aggregator = per_task
        else:
            for task, steps in per_task.items():
                attesters.setdefault(task, []).append(steps)
    return aggregator, attesters


BREAKDOWN_ROWS = [
    ("bench: sendTask round trip", "client"),
    ("bench call -> aggregator task.accepted", "agg"),
    ("aggregator: accepted -> votes.collected (quorum)", "agg"),
    ("aggregator: collected -> task.submitting (aggregate, estimateGas, sign, store)", "agg"),
    ("aggregator: submitting -> task.landed (broadcast, mine, receipt)", "agg"),
    ("landing event at the bench -> aggregator task.landed (its receipt poll)", "agg"),
    ("attester: accepted -> task.received (dispatch, HTTP, queue)", "att"),
    ("attester: received -> validation call (checks, taskRecord eth_call)", "att"),
    ("attester: validation service call", "att"),
    ("attester: BLS sign", "att"),
    ("attester: record vote (SQLite) -> answered", "att"),
    ("attester: handler total (received -> answered)", "att"),
]


def breakdown(phase: Phase, aggregator: dict, attesters: dict) -> dict[str, float]:
    """Median milliseconds per step over the phase's landed tasks (attester rows: over votes)."""
    rows: dict[str, list[float]] = {name: [] for name, _ in BREAKDOWN_ROWS}
    names = [name for name, _ in BREAKDOWN_ROWS]
    offset = time.time() - time.perf_counter()  # perf_counter -> wall clock (same machine clock)
    for track in phase.landed:
        key = "0x" + track.task_hash.hex()
        if track.answered is not None:
            rows[names[0]].append(track.answered - track.sent)
        steps = aggregator.get(key, {})
        accepted = steps.get("task.accepted", {}).get("ts")
        collected = steps.get("votes.collected", {}).get("ts")
        submitting = steps.get("task.submitting", {}).get("ts")
        landed = steps.get("task.landed", {}).get("ts")
        if accepted is not None:
            rows[names[1]].append(accepted - track.sent_wall)
        if accepted is not None and collected is not None:
            rows[names[2]].append(collected - accepted)
        if collected is not None and submitting is not None:
            rows[names[3]].append(submitting - collected)
        if submitting is not None and landed is not None:
            rows[names[4]].append(landed - submitting)
        if landed is not None:
            rows[names[5]].append(landed - (track.landed + offset))
        for att in attesters.get(key, []):
            received = att.get("task.received", {}).get("ts")
            validated = att.get("task.validated", {})
            signed = att.get("task.signed", {}).get("ts")
            answered = att.get("task.answered", {})
            if accepted is not None and received is not None:
                rows[names[6]].append(received - accepted)
            if received is not None and validated.get("ts") is not None:
                validation = validated.get("ms", 0) / 1000
                rows[names[7]].append(validated["ts"] - validation - received)
                rows[names[8]].append(validation)
                if signed is not None:
                    rows[names[9]].append(signed - validated["ts"])
                    if answered.get("ts") is not None:
                        rows[names[10]].append(answered["ts"] - signed)
            if answered.get("ms") is not None and not answered.get("replayed"):
                rows[names[11]].append(answered["ms"] / 1000)
    return {name: median(values) * 1000 for name, values in rows.items()}


_WAITING = (
    "<method 'poll' of 'select.epoll' objects>",
    "<method 'acquire' of '_thread.lock' objects>",
    "<method 'select' of 'select.epoll' objects>",
)


def read_profiles(paths: dict[str, Path], top: int) -> dict[str, dict[str, list[tuple[str, float, float, float]]]]:
    """Per node, (function, calls, own s, cumulative s): the ``top`` functions by own time (waiting in
    epoll left out) and the ``top`` functions of othentic_offchain by cumulative time."""
    import pstats

    found = {}
    for name, path in paths.items():
        if not path.exists():
            say(f"no profile written by {name} ({path})")
            continue
        stats = pstats.Stats(str(path)).stats  # {(file, line, func): (cc, nc, tt, ct, callers)}
        rows = []
        for (file, line, func), (_cc, calls, own, cumulative, _callers) in stats.items():
            where = func if file == "~" else f"{_short(file)}:{line} {func}"
            rows.append((where, calls, own, cumulative, file))
        own = sorted((r for r in rows if r[0] not in _WAITING), key=lambda r: -r[2])[:top]
        ours_ = sorted(
            (
                r
                for r in rows
                if "othentic_offchain/" in r[4]
                and "othentic_offchain/cli/" not in r[4]
                and not r[0].endswith("<module>")
                and r[3] > 0
            ),
            key=lambda r: -r[3],
        )[:top]
        found[name] = {"own": [r[:4] for r in own], "cumulative": [r[:4] for r in ours_]}
    return found


def _short(file: str) -> str:
    for marker in ("othentic_offchain/", "site-packages/", "lib/python3"):
        if marker in file:
            return file[file.index(marker) + (len(marker) if marker != "othentic_offchain/" else 0) :]
    return Path(file).name
