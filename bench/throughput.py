#!/usr/bin/env python
"""End-to-end throughput, latency and aggregator memory of a whole network on this machine.

    python bench/throughput.py                  # rich tables (plain text when piped), ~8 min when quiet
    python bench/throughput.py --markdown       # Markdown, as pasted in README.md
    python bench/throughput.py --quick          # a smoke run, under 2 minutes
    python bench/throughput.py --steps 5,10,15 --step-seconds 30 --memory-tasks 10000
    python bench/throughput.py --wait-quiet 600 # on a shared machine: start when the CPU is idle
    python bench/throughput.py --quick --profile  # also cProfile the aggregator and one attester

Setup (everything a separate OS process, as operators run it, built by the package's
`LocalNetwork`): anvil (automine, prague), the contracts (`deploy_system`), 10 operators
registered with equal stakes and their endpoints published on-chain, one services process
(`othentic services bench/throughput_avs.py:avs`) serving a cheap AVS on definition 0 (approve when data is the SHA-256 of the proof-of-task), the aggregator
(`othentic node aggregator`) and 10 attesters (`othentic node attester`). This process plays the
performer: it builds and signs each task itself (TaskInfo.sign), calls the aggregator's JSON-RPC
`sendTask` over one keep-alive aiohttp session, and sees tasks land through an `eth_subscribe`
logs subscription on anvil (TaskSubmitted / TaskRejected), so following tasks costs the
aggregator nothing while they run; `taskStatus` is asked once per task after each phase.

Measured:

1. latency at a low rate (1 task/s for 30 s): p50/p95/p99 on the bench's clock (from the sendTask
   call to the moment the landing event arrives) and on the aggregator's (`createdAt` to
   `finishedAt`, i.e. accepted to receipt seen);
2. sustained throughput: offered rates stepped 5, 10, 15, 20, 25 tasks/s, 20 s each, each step
   drained before the next; "achieved" is the rate of landings inside the offered window after a
   short warm-up; a step "keeps up" when achieved >= 95 % of offered, nothing failed and p95 < 2 s;
3. aggregator memory over 5,000 tasks (at the highest rate that kept up, with a bounded number in
   flight): VmRSS from /proc every 500 landed tasks.

And where the time goes: per-step medians from the nodes' JSON logs (aggregator: accepted, votes
collected, submitting, landed; attester: received, validated, signed, answered), and CPU time per
landed task of every process (from /proc/<pid>/stat) next to how busy the machine's cores were.

Other processes on a shared machine compete for the same cores: the tables show how much CPU they
took meanwhile (/proc/stat), so a disturbed run can be recognised and repeated.

Goals: at least 15 tasks/s sustained, p50 below 0.5 s at 1 task/s, flat aggregator memory.
Every process is stopped at the end, on Ctrl-C and on SIGTERM.

This file runs the phases; beside it: ``throughput_load.py`` (the performer: sending, landing
events), ``throughput_logs.py`` (where the time goes), ``throughput_report.py`` (the tables),
``throughput_machine.py`` (/proc readings) and ``throughput_avs.py`` (the AVS served).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from throughput_load import DEFINITION, LoadGenerator, Phase, Track, kept_up, warmup_of
from throughput_logs import breakdown, read_profiles, read_steps
from throughput_machine import MACHINE, cpu_seconds, machine_cpu_seconds, machine_line, rss_mb, say, wait_for_quiet
from throughput_report import Options, Results, print_markdown, print_rich

from othentic_offchain.chain.deploy import TOKEN
from othentic_offchain.devnet.network import LocalNetwork, operator_keys
from othentic_offchain.devnet.stats import median, percentile

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
STAKE = 10 * TOKEN


# --- the network ------------------------------------------------------------------------------------


class Network:
    """anvil, the contracts, the operators, and the services, aggregator and attester processes
    (a :class:`LocalNetwork`), with the process ids the bench reads CPU time and memory from."""

    def __init__(self, state: Path, operators: int, aggregator_delay_ms: float, profile: bool = False):
        self.state = state
        self.profile = profile
        self.profiles: dict[str, Path] = {}
        self.operators = operators
        self.aggregator_delay_ms = aggregator_delay_ms
        self.local = LocalNetwork(state, env={"OTHENTIC_PROJECT_ROOT": str(ROOT)})
        self.keys = operator_keys("othentic throughput bench operator", operators)
        self.aggregator_key = self.keys[0]
        self.performer_key = self.keys[1]
        self.pids: dict[str, int] = {}

    def start(self) -> None:
        local = self.local
        say("starting anvil (automine) and deploying the contracts")
        local.start_chain()
        assert local.anvil is not None and local.avs is not None
        self.anvil = local.anvil
        self.anvil_version = self.anvil.rpc("web3_clientVersion")
        self.center = local.avs.address
        self.chain_id = local.avs.chain_id

        say(f"registering {self.operators} operators (equal stakes of {STAKE // TOKEN} tokens)")
        local.add_operators(self.keys, [STAKE] * self.operators)
        self.operator_ids = [op.id for op in local.operators]
        self.performer = local.operators[1].account
        members = local.avs.definition_members(DEFINITION)
        if sorted(members) != sorted(self.operator_ids):
            raise RuntimeError(f"definition {DEFINITION} has members {sorted(members)}, expected {self.operator_ids}")

        say("starting the services process")
        services = local.start_services(f"{HERE / 'throughput_avs.py'}:avs", extra_args=["--role", "validation"])
        say(f"starting the aggregator and {self.operators} attesters")
        profiled = {"aggregator", f"attester-{self.operator_ids[0]}"} if self.profile else set()
        if profiled:  # the aggregator and the first attester under cProfile (main thread only)
            (self.state / "profiles").mkdir(exist_ok=True)

        def wrap(name: str, command: list[str]) -> list[str]:
            if name not in profiled:
                return command
            self.profiles[name] = self.state / "profiles" / f"{name}.prof"
            return command[:1] + ["-m", "cProfile", "-o", str(self.profiles[name])] + command[1:]

        started = local.start_nodes(
            aggregator={"key": self.aggregator_key, "delay_ms": self.aggregator_delay_ms},
            validation_service=services.url,
            wrap=wrap,
        )
        self.aggregator_url = local.aggregator_url
        self.pids = {name: managed.proc.pid for name, managed in started.items()}
        self.pids["services"] = services.proc.pid
        self.pids["anvil"] = self.anvil.pid
        self.log_dir = self.state / "logs"

    def cpu_snapshot(self) -> dict[str, float]:
        """CPU seconds so far, by group: aggregator, attesters (sum), services, anvil, bench."""
        snap = {"aggregator": 0.0, "attesters (10)": 0.0, "services": 0.0, "anvil": 0.0}
        for name, pid in self.pids.items():
            group = "attesters (10)" if name.startswith("attester-") else name
            snap[group] = snap.get(group, 0.0) + cpu_seconds(pid)
        times = os.times()
        snap["bench (performer)"] = times.user + times.system
        snap[MACHINE] = machine_cpu_seconds()
        return snap

    def stop(self) -> None:
        self.local.stop()


async def measure(net: Network, options: Options, results: Results) -> None:
    run_id = f"{int(time.time())}-{os.getpid()}"
    async with LoadGenerator(net, run_id, options.drain_timeout) as gen:
        results.watch_mode = gen.watch_mode
        say("warming up (3 tasks)")
        await gen.run(Phase("warm-up", 2.0, 1.5), 3)

        say(f"idle for {options.idle_seconds:g} s (background CPU of the nodes)")
        before, t0 = net.cpu_snapshot(), time.perf_counter()
        await asyncio.sleep(options.idle_seconds)
        after, elapsed = net.cpu_snapshot(), time.perf_counter() - t0
        results.idle_cpu = {k: 100 * (after[k] - before[k]) / elapsed for k in before}

        n = max(1, round(options.latency_rate * options.latency_seconds))
        say(f"latency: {n} tasks at {options.latency_rate:g}/s")
        results.latency = await gen.run(
            Phase(f"{options.latency_rate:g}/s", options.latency_rate, n / options.latency_rate), n
        )
        await gen.fetch_status(results.latency.tracks)
        _report(results.latency)

        for rate in options.steps:
            count = max(1, round(rate * options.step_seconds))
            say(f"throughput step: {count} tasks at {rate:g}/s")
            phase = await gen.run(Phase(f"{rate:g}/s", rate, count / rate), count)
            await gen.fetch_status(phase.tracks)
            results.steps.append(phase)
            _report(phase)

        if options.memory_tasks > 0:
            sustained = [p for p in results.steps if kept_up(p)]
            if options.memory_rate:
                rate = options.memory_rate
            elif sustained:
                rate = max(p.rate for p in sustained)
            else:
                best = max((p.achieved(warmup_of(p)) for p in results.steps), default=5.0)
                rate = max(1.0, round(0.8 * best, 1))
            in_flight = max(20, int(rate * 4))
            results.memory_rate, results.memory_in_flight = rate, in_flight
            phase = Phase("memory", rate, options.memory_tasks / rate)
            agg_pid = net.pids["aggregator"]
            att_pid = net.pids[f"attester-{net.operator_ids[0]}"]

            def sample(landed: int) -> None:
                phase.samples.append(
                    {
                        "landed": landed,
                        "t": time.perf_counter(),
                        "aggregator": rss_mb(agg_pid),
                        "attester": rss_mb(att_pid),
                        "anvil": rss_mb(net.anvil.pid),
                        "services": rss_mb(net.pids["services"]),
                        "aggregator_cpu": cpu_seconds(agg_pid),
                        "anvil_cpu": cpu_seconds(net.anvil.pid),
                        "in_flight": sum(1 for t in phase.tracks if not t.done),
                    }
                )

            landed_in_phase = [0]

            def on_landed(track: Track) -> None:
                if track.phase == phase.name:
                    landed_in_phase[0] += 1
                    if landed_in_phase[0] % options.memory_every == 0:
                        sample(landed_in_phase[0])

            say(
                f"memory: {options.memory_tasks} tasks at {rate:g}/s (at most {in_flight} in flight), "
                f"VmRSS every {options.memory_every}"
            )
            phase.start = time.perf_counter()
            sample(0)
            gen.on_landed = on_landed
            try:
                await gen.run(phase, options.memory_tasks, max_in_flight=in_flight)
            finally:
                gen.on_landed = None
            if not phase.samples or phase.samples[-1]["landed"] != landed_in_phase[0]:
                sample(landed_in_phase[0])
            await gen.fetch_status([t for t in phase.tracks if not t.ok])
            results.memory = phase
            _report(phase)
        results.tasks_total = sum(1 for t in gen.tracks.values() if t.landed is not None)
        # The landing event reaches the bench before the aggregator's receipt poll: let it catch up.
        deadline = time.perf_counter() + 10
        while True:
            try:
                results.health = await gen.aggregator.call("health", [])
            except Exception as exc:
                results.health = {"error": str(exc)}
                break
            if not results.health.get("tasksInFlight") or time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.2)


def _report(phase: Phase) -> None:
    wall = phase.wall()
    say(
        f"  {phase.name}: sent {phase.sent}, landed {len(phase.landed)}, failed {len(phase.failures)}, "
        f"achieved {phase.achieved(warmup_of(phase)):.1f}/s, p50 {median(wall):.3f} s, "
        f"p95 {percentile(wall, 95):.3f} s"
    )
    for t in phase.failures[:3]:
        say(f"    failure: {t.error}")


def run(options: Options) -> Results:
    results = Results(options)
    state = options.state_dir or Path(tempfile.mkdtemp(prefix="othentic-throughput-"))
    if options.state_dir is not None:
        if state.exists():
            shutil.rmtree(state)
        state.mkdir(parents=True)
    net = Network(state, options.operators, options.aggregator_delay_ms, options.profile)
    started = time.perf_counter()
    try:
        if options.wait_quiet > 0:
            busy = wait_for_quiet(options.wait_quiet)
            say(f"machine {busy:.0f} % busy before the start")
            started = time.perf_counter()
        net.start()
        results.setup_seconds = time.perf_counter() - started
        results.anvil_version = net.anvil_version
        results.machine = machine_line(net.anvil_version)
        asyncio.run(measure(net, options, results))
        say("reading the nodes' logs")
        aggregator, attesters = read_steps(net.log_dir)
        phases = ([results.latency] if results.latency else []) + results.steps
        for phase in phases:
            results.breakdown[phase.name] = breakdown(phase, aggregator, attesters)
    finally:
        say("stopping every process")
        net.stop()
        if net.profiles:
            results.profiles = read_profiles(net.profiles, options.profile_top)
        results.log_dir = str(net.state / "logs")
        if options.state_dir is None and not options.keep_state:
            shutil.rmtree(state, ignore_errors=True)
            results.log_dir = ""
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables instead of rich tables")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (under 2 min): 8 s of latency, steps 5,10,20 of 5 s, 200 memory tasks",
    )
    parser.add_argument("--operators", type=int, default=10, help="operators and attesters (default 10)")
    parser.add_argument("--latency-seconds", type=float, default=None, help="low-rate phase length (default 30)")
    parser.add_argument("--latency-rate", type=float, default=1.0, help="low rate, tasks/s (default 1)")
    parser.add_argument("--steps", default=None, help="offered rates, tasks/s (default 5,10,15,20,25)")
    parser.add_argument("--step-seconds", type=float, default=None, help="seconds per step (default 20)")
    parser.add_argument(
        "--memory-tasks", type=int, default=None, help="tasks of the memory phase (default 5000; 0: skip)"
    )
    parser.add_argument(
        "--memory-every", type=int, default=None, help="VmRSS sample every N landed tasks (default 500)"
    )
    parser.add_argument(
        "--memory-rate",
        type=float,
        default=None,
        help="offered rate of the memory phase (default: the highest step that kept up)",
    )
    parser.add_argument(
        "--aggregator-delay-ms",
        type=float,
        default=0.0,
        help="the aggregator's --delay (wait for more votes after quorum; default 0)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=90.0,
        help="seconds to wait for a phase's last tasks to land (default 90)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="keep deployment, databases and node logs here (default: a temporary folder, removed)",
    )
    parser.add_argument("--keep-state", action="store_true", help="keep the temporary folder and print its path")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to SECONDS for the machine's CPU to be below 15 %% busy (shared machines)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the aggregator and one attester under cProfile and print their hottest functions "
        "(slows those two nodes: the other tables of such a run are not the reference numbers)",
    )
    args = parser.parse_args(argv)

    quick = args.quick
    options = Options(
        operators=args.operators,
        latency_rate=args.latency_rate,
        latency_seconds=args.latency_seconds if args.latency_seconds is not None else (8.0 if quick else 30.0),
        steps=tuple(float(x) for x in (args.steps or ("5,10,20" if quick else "5,10,15,20,25")).split(",") if x),
        step_seconds=args.step_seconds if args.step_seconds is not None else (5.0 if quick else 20.0),
        memory_tasks=args.memory_tasks if args.memory_tasks is not None else (200 if quick else 5000),
        memory_every=args.memory_every if args.memory_every is not None else (50 if quick else 500),
        memory_rate=args.memory_rate,
        idle_seconds=2.0 if quick else 5.0,
        drain_timeout=args.drain_timeout,
        aggregator_delay_ms=args.aggregator_delay_ms,
        state_dir=args.state_dir.resolve() if args.state_dir else None,
        keep_state=args.keep_state,
        profile=args.profile,
        wait_quiet=args.wait_quiet,
    )
    if options.operators < 4:
        parser.error("--operators must be at least 4")
    if options.memory_every < 1 or any(r <= 0 for r in options.steps) or options.latency_rate <= 0:
        parser.error("rates and --memory-every must be positive")

    def terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    started = time.perf_counter()
    try:
        results = run(options)
    except KeyboardInterrupt:
        say("interrupted: every process was stopped")
        return 130
    (print_markdown if args.markdown else print_rich)(results)
    if results.log_dir:
        print(f"\nNode logs: {results.log_dir}")
    say(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
