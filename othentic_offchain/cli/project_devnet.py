"""``othentic devnet`` inside an AVS project: serve it, say where everything is, follow its files."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table

from othentic_offchain.cli.common import console
from othentic_offchain.project.config import Project, ProjectError

#: How often the AVS's files are looked at (their modification time) while the devnet runs.
WATCH_INTERVAL = 0.5


def run_project_devnet(
    project: Project,
    tasks: int | None,
    keep_running: bool,
    state_dir: str | None,
    concurrency: int,
    block_time: float | None,
) -> None:
    from othentic_offchain.devnet.anvil import AnvilError
    from othentic_offchain.devnet.processes import ProcessFailed
    from othentic_offchain.project.devnet import ProjectDevnet

    out = console()
    started = time.monotonic()
    spinner = Spinner("dots", text="preparing")

    def progress(text: str) -> None:
        spinner.update(text=f"{text}  [dim]({time.monotonic() - started:.0f} s)[/dim]")

    _sigterm_stops_like_ctrl_c()
    net = ProjectDevnet(
        project, state_dir=Path(state_dir) if state_dir else None, block_time=block_time, progress=progress
    )
    failed = False
    try:
        with Live(spinner, console=out, refresh_per_second=8, transient=True):
            try:
                net.start()
            except (ProjectError, AnvilError, ProcessFailed) as exc:
                raise click.ClickException(str(exc)) from exc
        _print_network(out, net, time.monotonic() - started)
        if tasks:
            with Live(spinner, console=out, refresh_per_second=8, transient=True):
                runs = net.workload(tasks, concurrency=concurrency)
                progress("reading the outcomes")
                outcomes = [net.outcome(run.task_hash, timeout=5) if run.task_hash else None for run in runs]
            failed = _print_runs(out, net, runs, outcomes)
        if tasks is None or keep_running:
            out.print(
                "\nThe network keeps running. From another terminal, in this project:\n"
                f"  othentic task send --definition {next(iter(project.definitions))} --params '{{...}}'\n"
                f"Edit {net.project.avs_file.name}: its services restart, the chain stays.  "
                f"Logs: {net.state / 'logs'}.  Ctrl-C stops everything."
            )
            _watch(out, net)
    except KeyboardInterrupt:
        out.print("Stopping every process...")
    finally:
        net.stop()
    if failed:
        raise SystemExit(1)


def _sigterm_stops_like_ctrl_c() -> None:
    """SIGTERM (a supervisor, ``kill``) stops everything the way Ctrl-C does, rather than leaving
    the children to the parent-death signal."""
    import signal

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _watch(out, net) -> None:
    """Until Ctrl-C: when the AVS's files change, restart its services (same ports)."""
    from othentic_offchain.devnet.processes import ProcessFailed

    while True:
        time.sleep(WATCH_INTERVAL)
        changed = net.changed_files()
        if not changed:
            continue
        names = ", ".join(path.name for path in changed)
        out.print(f"{names} changed: restarting the AVS's services...")
        try:
            net.restart_services()
        except ProcessFailed as exc:
            out.print(f"[red]The services did not start again:[/red] {exc}\nFix it and save: they restart then.")
            continue
        out.print(f"Services restarted on {net.services_url()}.")


def _print_network(out, net, seconds: float) -> None:
    table = Table(title=f"{net.project.name}: a local network, up in {seconds:.0f} s", title_justify="left")
    for column in ("what", "where"):
        table.add_column(column, overflow="fold")
    table.add_row("chain (anvil)", net.net.rpc_url)
    table.add_row("aggregator", net.net.aggregator_url)
    table.add_row("dashboard", f"{net.dashboard_url}  (open it in a browser)")
    table.add_row("AVS services", f"{net.services_url()}  ({net.project.avs_reference})")
    table.add_row("proof store", net.proof_store_url)
    for name, url in net.process_urls.items():
        table.add_row(name, url)
    for name, definition_id in net.definition_ids.items():
        trigger = net.project.definition(name).trigger
        how = ", ".join(
            f"{key.replace('_', '-')} {value}" for key, value in trigger.model_dump().items() if value is not None
        )
        table.add_row(
            f"definition {name!r}",
            f"id {definition_id}; performer {net.performer_urls[name]}" + (f"; {how}" if how else ""),
        )
    for op in sorted(net.operators, key=lambda op: op.id):
        status = "offline" if op.id in net.offline else "lying" if op.id in net.lying else "online"
        if op is net.aggregator:
            status += ", runs the aggregator"
        table.add_row(f"operator {op.id}", f"{op.account}, attester {op.url} ({status})")
    table.add_row("deployment", str(net.net.deployment_path))
    table.add_row("endpoints, logs", f"{net.state / 'devnet.json'}, {net.state / 'logs'}")
    out.print(table)


def _print_runs(out, net, runs, outcomes) -> bool:
    names = {i: n for n, i in net.definition_ids.items()}
    table = Table(title="Tasks", title_justify="left")
    for column in ("definition", "task", "status", "side", "votes (operator: side)", "gas"):
        table.add_column(column, overflow="fold")
    for run, outcome in zip(runs, outcomes):
        votes = ", ".join(f"{i}: {side}" for i, side in sorted(outcome.votes.items())) if outcome else ""
        table.add_row(
            names.get(run.definition_id, str(run.definition_id)),
            (run.task_hash or "-")[:18],
            run.status if run.status == "landed" else f"{run.status}: {run.error}",
            outcome.side if outcome and outcome.side else "-",
            votes or "-",
            f"{outcome.gas:,}" if outcome and outcome.gas else "-",
        )
    out.print(table)
    failures = [run for run in runs if run.status != "landed"]
    if failures:
        out.print(f"[red]{len(failures)} of {len(runs)} task(s) did not land.[/red]")
        return True
    out.print(f"[green]All {len(runs)} tasks landed.[/green]")
    return False
