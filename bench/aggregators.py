#!/usr/bin/env python
"""One aggregator against several following the on-chain schedule, some of them killed mid-run, on
loopback and on a simulated wide-area network.

    python bench/aggregators.py                 # 1 aggregator; 3; 3 with 1 killed; 3 with 2 killed
    python bench/aggregators.py --network wan --tasks 90 --rate 5 --markdown

Each row is one ``othentic devnet`` run (10 operators, the example AVSs, anvil mining a block per
transaction plus an empty one a second) with tasks triggered at a steady rate (``--rate``; the
generic and price-oracle definitions alternating; no beacon rounds: they come every few blocks, so
they would add tasks in proportion to the load) after six warm-up tasks (every node's first
connections, chain reads and gas estimate are not counted), with ``--aggregators N
--kill-aggregators K``: the K aggregators are SIGKILLed once 1/(K+1), 2/(K+1), ... of the tasks
finished. ``wan``: each operator's nodes in a network namespace of their own, every link between
operators through a relay adding 20 to 150 ms one way (drawn per pair) and up to 10 ms of jitter,
5 ms to the chain's RPC and the services (root only; othentic_offchain/devnet/wan_devnet.py).
Latency is from the performer's trigger to the landing event seen on-chain (polled four times a
second). A task *failed over* when the aggregator on turn for it when it was triggered (the
schedule, read from the chain) was dead before it landed: its latency is the time to fail over, a
backup's turn included. Duplicate attempts are the aggregators' transactions to the center that
reverted (a task landed by another first), with the gas they wasted; forfeited counts landings off
their sender's turn (no aggregator reward paid).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from othentic_offchain.chain.schedule import read_schedule
from othentic_offchain.devnet.devnet import Devnet, DevnetOptions
from othentic_offchain.devnet.wan import WanUnavailable, check_available
from othentic_offchain.devnet.wan_devnet import DEFAULT_PROFILE

CASES = ((1, 0), (3, 0), (3, 1), (3, 2))
NETWORKS = ("loopback", "wan")


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run_case(network: str, aggregators: int, kills: int, tasks: int, rate: float, root: Path) -> dict:
    state = root / f"{network}-agg{aggregators}-kill{kills}"
    devnet = Devnet(
        DevnetOptions(
            operators=10,
            tasks=tasks,
            state_dir=state,
            lying_share=0.0,
            aggregators=aggregators,
            kill_aggregators=kills,
            rate=rate,
            follow_on_chain=True,
            beacon_period=0,
            wan=DEFAULT_PROFILE if network == "wan" else None,
        )
    )
    started = time.monotonic()
    try:
        devnet.start()
        devnet.warm_up()
        runs = devnet.workload()
        landed = [r for r in runs if r.status == "landed" and r.latency is not None]
        latencies = [r.latency for r in landed if r.latency is not None]
        row: dict = {
            "network": network,
            "aggregators": aggregators,
            "killed": kills,
            "tasks": len(runs),
            "landed": len(landed),
            "p50": percentile(latencies, 0.5),
            "p95": percentile(latencies, 0.95),
            "failed_over": 0,
            "failover_max": None,
            "duplicates": 0,
            "wasted_gas": 0,
            "forfeited": 0,
            "exactly_once": None,
        }
        if aggregators > 1:
            net = devnet.net
            assert net.avs is not None
            schedule = read_schedule(net.avs.center)
            killed_at = {a.operator.account.lower(): a.killed_at for a in devnet.aggregators if a.killed_at is not None}

            def failed_over(run) -> bool:
                """Its primary (on turn when it was triggered) was dead before it landed."""
                turn = schedule.on_turn(bytes.fromhex(run.task_hash[2:]), int(run.triggered_at))
                death = killed_at.get(turn.account.lower()) if turn is not None else None
                return death is not None and death < run.triggered_at + run.latency

            failover = [r.latency for r in landed if r.task_hash and r.latency is not None and failed_over(r)]
            report = devnet.summary(runs, [], started).aggregators
            assert report is not None
            row.update(
                failed_over=len(failover),
                failover_max=max(failover) if failover else None,
                duplicates=sum(r.reverted for r in report.rows),
                wasted_gas=sum(r.reverted_gas for r in report.rows),
                forfeited=sum(r.forfeited for r in report.rows),
                exactly_once=report.exactly_once,
            )
        return row
    finally:
        devnet.stop()


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=60, help="tasks per run (default 60)")
    parser.add_argument("--rate", type=float, default=5.0, help="tasks triggered per second (default 5)")
    parser.add_argument(
        "--network", choices=(*NETWORKS, "both"), default="both", help="loopback, wan (root only), or both (default)"
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="othentic-aggregators-"))
    networks = NETWORKS if args.network == "both" else (args.network,)
    if "wan" in networks:
        try:
            check_available()
        except WanUnavailable as exc:
            if args.network == "wan":
                parser.error(f"the wide-area network cannot be simulated here: {exc}")
            print(f"skipping the wide-area rows: {exc}", file=sys.stderr)
            networks = ("loopback",)
    rows = []
    try:
        for network in networks:
            for aggregators, kills in CASES:
                print(f"running {network}: {aggregators} aggregator(s), {kills} killed ...", file=sys.stderr)
                rows.append(run_case(network, aggregators, kills, args.tasks, args.rate, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    headers = [
        "network",
        "aggregators",
        "killed",
        "tasks",
        "landed",
        "p50",
        "p95",
        "failed over",
        "longest failover",
        "duplicate attempts",
        "gas wasted",
        "rewards forfeited",
        "exactly once",
    ]
    cells = [
        [
            r["network"],
            str(r["aggregators"]),
            str(r["killed"]),
            str(r["tasks"]),
            str(r["landed"]),
            seconds(r["p50"]),
            seconds(r["p95"]),
            str(r["failed_over"]),
            seconds(r["failover_max"]),
            str(r["duplicates"]),
            f"{r['wasted_gas']:,}",
            str(r["forfeited"]),
            "-" if r["exactly_once"] is None else ("yes" if r["exactly_once"] else "NO"),
        ]
        for r in rows
    ]
    if args.markdown:
        print("| " + " | ".join(headers) + " |")
        print("|" + "---:|" * len(headers))
        for line in cells:
            print("| " + " | ".join(line) + " |")
        print(
            f"\nMeasured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {args.tasks} tasks per run "
            f"at {args.rate:g} tasks/s."
        )
    else:
        table = Table(title="Aggregators: latency to landing, failover, duplicates")
        for header in headers:
            table.add_column(header, justify="right")
        for line in cells:
            table.add_row(*line)
        Console().print(table)
    lost = [r for r in rows if r["landed"] != r["tasks"] or r["exactly_once"] is False]
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
