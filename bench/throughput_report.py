"""What the throughput bench prints: its options and results, and the tables made of them, as rich
tables or Markdown (the per-step and profile figures come from ``throughput_logs.py``)."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from throughput_load import KEEP_UP_P95, KEEP_UP_SHARE, Phase, kept_up, warmup_of
from throughput_logs import BREAKDOWN_ROWS
from throughput_machine import MACHINE

from othentic_offchain.devnet.stats import median, percentile

GOAL_RATE = 15.0
GOAL_P50 = 0.5


@dataclass
class Options:
    operators: int = 10
    latency_rate: float = 1.0
    latency_seconds: float = 30.0
    steps: tuple[float, ...] = (5, 10, 15, 20, 25)
    step_seconds: float = 20.0
    memory_tasks: int = 5000
    memory_every: int = 500
    memory_rate: float | None = None
    idle_seconds: float = 5.0
    drain_timeout: float = 90.0
    aggregator_delay_ms: float = 0.0
    state_dir: Path | None = None
    keep_state: bool = False
    profile: bool = False
    profile_top: int = 15
    wait_quiet: float = 0.0


@dataclass
class Results:
    options: Options
    machine: str = ""
    anvil_version: str = ""
    watch_mode: str = ""
    setup_seconds: float = 0.0
    idle_cpu: dict[str, float] = field(default_factory=dict)  # CPU % of one core while idle
    latency: Phase | None = None
    steps: list[Phase] = field(default_factory=list)
    memory: Phase | None = None
    memory_rate: float = 0.0
    memory_in_flight: int = 0
    breakdown: dict[str, dict[str, float]] = field(default_factory=dict)
    profiles: dict[str, dict[str, list[tuple[str, float, float, float]]]] = field(default_factory=dict)
    tasks_total: int = 0
    health: dict = field(default_factory=dict)
    log_dir: str = ""


# --- output -----------------------------------------------------------------------------------------


@dataclass
class Out:
    title: str
    headers: list[str]
    rows: list[list[str]]
    left: int = 1  # leading columns aligned left
    note: str = ""


def ms(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    value = seconds * 1000
    return f"{value:.1f}" if abs(value) < 10 else f"{value:,.0f}"


def tables(results: Results) -> list[Out]:
    out: list[Out] = []
    lat = results.latency
    if lat is not None:
        wall, agg = lat.wall(), lat.agg()
        answered = [t.answered - t.sent for t in lat.landed if t.answered is not None]
        rows = []
        for name, values in (
            ("sendTask call -> landing event seen (bench clock)", wall),
            ("createdAt -> finishedAt (aggregator clock)", agg),
            ("sendTask answered (bench clock)", answered),
        ):
            rows.append(
                [
                    name,
                    str(len(values)),
                    ms(median(values)),
                    ms(percentile(values, 95)),
                    ms(percentile(values, 99)),
                    ms(max(values) if values else float("nan")),
                ]
            )
        verdict = "met" if median(wall) < GOAL_P50 else "missed"
        out.append(
            Out(
                f"Latency at {lat.rate:g} task/s ({lat.sent} tasks, {len(lat.failures)} failed), milliseconds",
                ["measure", "tasks", "p50", "p95", "p99", "max"],
                rows,
                note=f"Goal: p50 below {GOAL_P50 * 1000:.0f} ms ({verdict}). Landing events are pushed by anvil "
                f"({results.watch_mode}). Other processes on the machine used "
                f"{machine_share(others(lat.cpu_window), lat.offered_end - lat.start):.0f} % of its CPU meanwhile, "
                f"this network {machine_share(ours(lat.cpu_window), lat.offered_end - lat.start):.0f} %.",
            )
        )
    if results.steps:
        rows = []
        for p in results.steps:
            wall = p.wall()
            window = max(p.offered_end - p.start, 1e-9)
            last = max((t.landed for t in p.landed), default=p.start)
            overall = len(p.landed) / (last - p.start) if last > p.start else float("nan")
            rows.append(
                [
                    f"{p.rate:g}",
                    f"{p.seconds:.0f}",
                    str(p.sent),
                    str(len(p.landed)),
                    f"{p.achieved(warmup_of(p)):.1f}",
                    f"{overall:.1f}",
                    ms(median(wall)),
                    ms(percentile(wall, 95)),
                    ms(percentile(wall, 99)),
                    ms(median(p.agg())),
                    str(len(p.failures)),
                    str(p.sent - p.landed_at_offer_end),
                    f"{machine_share(ours(p.cpu_window), window):.0f} %",
                    f"{machine_share(others(p.cpu_window), window):.0f} %",
                    "yes" if kept_up(p) else "no",
                ]
            )
        sustained = [p for p in results.steps if kept_up(p)]
        best = max((p.rate for p in sustained), default=0)
        top = max((p.achieved(warmup_of(p)) for p in results.steps), default=0)
        verdict = "met" if best >= GOAL_RATE else "missed"
        out.append(
            Out(
                "Sustained throughput (latencies in ms, sendTask call to landing event)",
                [
                    "offered /s",
                    "s",
                    "sent",
                    "landed",
                    "achieved /s",
                    "landed /s to the last",
                    "p50",
                    "p95",
                    "p99",
                    "p50 (aggregator clock)",
                    "failures",
                    "open at window end",
                    "CPU: this network",
                    "CPU: other processes",
                    "kept up",
                ],
                rows,
                left=0,
                note=f"Highest offered rate kept up: {best:g} tasks/s (goal {GOAL_RATE:g}: {verdict}); highest "
                f"achieved rate in any step: {top:.1f}/s. Achieved = landings inside the offered window after "
                f"a {warmup_of(results.steps[0]):g} s warm-up, per second; landed /s to the last = all the step's "
                f"landings / (last landing - first sendTask). Kept up = achieved >= {KEEP_UP_SHARE:.0%} of "
                f"offered, no failure, p95 < {KEEP_UP_P95:g} s. CPU = share of the machine's {os.cpu_count()} "
                f"cores during the offered window, this network's processes vs everything else running on "
                f"the machine (/proc/stat).",
            )
        )
    phases = ([lat] if lat is not None else []) + results.steps
    if results.breakdown:
        names = [p.name for p in phases]
        rows = [[name] + [ms(results.breakdown[n][name] / 1000) for n in names] for name, _ in BREAKDOWN_ROWS]
        out.append(
            Out(
                "Where the time goes: median ms per task (attester rows: per vote), by offered rate",
                ["step"] + names,
                rows,
                note="From the JSON logs' timestamps (1 ms resolution) and the bench's clock. The "
                "aggregator submits as soon as 7 of the 10 equal stakes voted (> 2/3); its "
                "'task.landed' comes after its receipt poll (every 50 ms), the bench's event "
                "when the block is mined.",
            )
        )
        groups = [g for g in phases[0].cpu if g != MACHINE] if phases else []
        rows = []
        for g in groups:
            row = [g, f"{results.idle_cpu.get(g, 0):.1f} %"]
            for p in phases:
                row.append(f"{1000 * p.cpu[g] / max(1, len(p.landed)):.1f}")
            rows.append(row)
        total = ["total (this network)", f"{ours(results.idle_cpu):.1f} %"]
        for p in phases:
            total.append(f"{1000 * ours(p.cpu) / max(1, len(p.landed)):.1f}")
        rows.append(total)
        idle_others = others(results.idle_cpu) / (os.cpu_count() or 1)
        load = ["other processes on the machine (% of all cores)", f"{idle_others:.0f} %"]
        for p in phases:
            load.append(f"{machine_share(others(p.cpu), p.drained_at - p.start):.0f} %")
        rows.append(load)
        out.append(
            Out(
                "CPU time per landed task (ms), by process and offered rate",
                ["process", "idle (% of a core)"] + [p.name for p in phases],
                rows,
                note="From /proc/<pid>/stat (all threads), from the first sendTask to the last landing of "
                "each step, divided by the tasks landed; idle: the nodes' background work with no "
                "task running. Last row: CPU used by processes outside this network (other users "
                "of the machine) during the step, which competes with the network.",
            )
        )
    mem = results.memory
    if mem is not None and mem.samples:
        rows = []
        first = mem.samples[0]
        prev = first
        for s in mem.samples:
            dt = s["t"] - prev["t"]
            rate = (s["landed"] - prev["landed"]) / dt if dt > 0 else float("nan")
            rows.append(
                [
                    f"{s['landed']:,}",
                    f"{s['t'] - first['t']:.0f}",
                    "-" if rate != rate else f"{rate:.1f}",
                    f"{s['aggregator']:.1f}",
                    f"{s['aggregator'] - first['aggregator']:+.1f}",
                    str(s["in_flight"]),
                    f"{s['attester']:.1f}",
                    f"{s['services']:.1f}",
                    f"{s['anvil']:.1f}",
                    _per_task(s, prev, "aggregator_cpu"),
                    _per_task(s, prev, "anvil_cpu"),
                ]
            )
            prev = s
        slope = _slope([(s["landed"], s["aggregator"]) for s in mem.samples if s["landed"] >= options_every(results)])
        out.append(
            Out(
                f"Aggregator memory over {mem.sent:,} tasks (VmRSS MiB; offered {results.memory_rate:g}/s, at most "
                f"{results.memory_in_flight} in flight; {len(mem.landed):,} landed, {len(mem.failures)} failed)",
                [
                    "tasks landed",
                    "s",
                    "tasks/s",
                    "aggregator",
                    "change",
                    "in flight",
                    "an attester",
                    "services",
                    "anvil",
                    "aggregator CPU ms/task",
                    "anvil CPU ms/task",
                ],
                rows,
                left=0,
                note=f"Aggregator growth after the first {options_every(results):,} tasks: {slope:+.2f} MiB per 1,000 "
                f"tasks (least squares); goal: flat. The aggregator had already handled the earlier phases' "
                f"tasks. CPU columns: since the previous sample, per task landed. Latency in this phase: p50 "
                f"{ms(median(mem.wall()))} ms, p95 {ms(percentile(mem.wall(), 95))} ms.",
            )
        )
    for name, lists in results.profiles.items():
        n = max(1, results.tasks_total)
        for kind, what in (
            ("own", "top functions by own time (epoll waits left out)"),
            ("cumulative", "top othentic_offchain functions by cumulative time"),
        ):
            out.append(
                Out(
                    f"cProfile of {name}, main thread: {what}, per landed task ({n:,} tasks)",
                    ["function", "calls / task", "own ms / task", "cumulative ms / task"],
                    [
                        [where, f"{calls / n:.1f}", f"{own * 1000 / n:.2f}", f"{cum * 1000 / n:.2f}"]
                        for where, calls, own, cum in lists[kind]
                    ],
                    note="Threads (asyncio.to_thread: BLS signing, SQLite, G2 additions) are not profiled; a "
                    "coroutine's cumulative time is its own steps' CPU, not the time it awaited. cProfile slows "
                    "the profiled nodes: take the other tables from a run without --profile.",
                )
            )
    return out


def _per_task(sample: dict, previous: dict, key: str) -> str:
    """CPU milliseconds of ``key`` per task landed between two memory samples."""
    tasks = sample["landed"] - previous["landed"]
    return f"{1000 * (sample[key] - previous[key]) / tasks:.1f}" if tasks > 0 else "-"


def ours(cpu: dict[str, float]) -> float:
    return sum(v for k, v in cpu.items() if k != MACHINE)


def others(cpu: dict[str, float]) -> float:
    return max(0.0, cpu.get(MACHINE, float("nan")) - ours(cpu))


def machine_share(cpu_s: float, seconds: float) -> float:
    """CPU seconds as a percentage of every core during ``seconds``."""
    return 100 * cpu_s / ((os.cpu_count() or 1) * max(seconds, 1e-9))


def options_every(results: Results) -> int:
    return results.options.memory_every


def _slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 1000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else float("nan")


def footer(results: Results) -> str:
    o = results.options
    counts = results.health.get("tasks") if isinstance(results.health, dict) else None
    stored = ", ".join(f"{n:,} {status}" for status, n in sorted(counts.items())) if counts else "unknown"
    return (
        f"Measured {results.machine}. Setup: {o.operators} operators (equal stakes), 1 services process, "
        f"1 aggregator (delay {o.aggregator_delay_ms:g} ms) and {o.operators} attesters as separate processes, "
        f"anvil automine, hardfork prague; setup took {results.setup_seconds:.0f} s. Aggregator's task store "
        f"at the end: {stored}."
    )


def print_rich(results: Results) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 180)
    for spec in tables(results):
        table = Table(title=spec.title, title_justify="left", caption=spec.note or None, caption_justify="left")
        for i, header in enumerate(spec.headers):
            table.add_column(header, justify="left" if i < spec.left else "right")
        for row in spec.rows:
            table.add_row(*row)
        console.print(table)
        console.print()
    console.print(footer(results))


def print_markdown(results: Results) -> None:
    for spec in tables(results):
        print(f"**{spec.title}**")
        print()
        print("| " + " | ".join(spec.headers) + " |")
        print("|" + "|".join("---" if i < spec.left else "---:" for i in range(len(spec.headers))) + "|")
        for row in spec.rows:
            print("| " + " | ".join(row) + " |")
        print()
        if spec.note:
            print(spec.note)
            print()
    print(footer(results))
