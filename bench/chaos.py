#!/usr/bin/env python
"""Faults a real chain produces, one per run, against a whole network on this machine.

    python bench/chaos.py --quick               # every fault briefly (about 3 min); exit 0 when every invariant holds
    python bench/chaos.py                       # every fault at full length (about 9 min)
    python bench/chaos.py --fault reorg         # one fault (repeat --fault for several)
    python bench/chaos.py --quick --markdown    # the table as Markdown, as pasted in README.md

The network (anvil mining a block a second, 10 operators, the aggregator with ``--finality 5``,
ten attesters, a performer) and the faults are described in ``othentic_offchain/devnet/chaos.py``,
which the end-to-end tests (``tests/e2e/test_chaos.py``) share. One table row per fault: tasks
accepted, landed, final, lost, landed twice, the aggregator's reverted transactions (as a share
of the tasks accepted; the goal is under 1 %), the gas its transactions spent beyond one
landing submission per task, and the longest time from trigger to landing block.

Invariants, per fault: no accepted task lost, none landed twice, every accepted task final once
the fault cleared. Any broken one is printed under the table and the exit status is 1.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from othentic_offchain.devnet.chaos import FAULTS, FULL, QUICK, ChaosNetwork, RunResult


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short faults and few tasks (CI)")
    parser.add_argument("--fault", action="append", choices=sorted(FAULTS), help="run only this fault (repeatable)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--state-dir", type=Path, help="keep the network's files (logs) here")
    args = parser.parse_args()

    pace = QUICK if args.quick else FULL
    faults = args.fault or list(FAULTS)
    console = Console(stderr=True)
    state = args.state_dir or Path(tempfile.mkdtemp(prefix="othentic-chaos-"))
    if args.state_dir is not None and state.exists():
        shutil.rmtree(state)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # leave through the with block: stop everything

    def progress(text: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {text}", highlight=False)

    results: list[RunResult] = []
    with ChaosNetwork(state, progress=progress) as chaos:
        for fault in faults:
            progress(f"--- {fault}")
            try:
                results.append(chaos.run(fault, pace))
            except Exception as exc:  # a fault that could not be injected: reported, the others still run
                failed = RunResult(fault)
                failed.notes.append(f"the run failed: {type(exc).__name__}: {exc}")
                results.append(failed)
    print_table(results, markdown=args.markdown, title=f"chaos ({'quick' if args.quick else 'full'})")
    broken = [(r.fault, problem) for r in results for problem in r.problems()]
    for result in results:
        for note in result.notes:
            print(f"  {result.fault}: {note}")
    for fault, problem in broken:
        print(f"BROKEN {fault}: {problem}")
    print(f"logs: {state / 'logs'}")
    if args.state_dir is None and not broken:
        shutil.rmtree(state, ignore_errors=True)
    return 1 if broken else 0


def print_table(results: list[RunResult], *, markdown: bool, title: str) -> None:
    rows = [r.row() for r in results]
    if not rows:
        return
    columns = list(rows[0])
    if markdown:
        print("| " + " | ".join(columns) + " |")
        print("|" + "|".join("---" if c == "fault" else "---:" for c in columns) + "|")
        for row in rows:
            print("| " + " | ".join(str(row[c]) for c in columns) + " |")
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column == "fault" else "right")
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    Console(width=max(Console().width, 150)).print(table)


if __name__ == "__main__":
    sys.exit(main())
