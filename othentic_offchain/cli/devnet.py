"""``othentic devnet``: the whole network on this machine, a workload, and what landed on-chain."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table

from othentic_offchain.cli.common import console, tokens


@click.command(name="devnet")
@click.option(
    "--operators", type=click.IntRange(4, 50), default=10, show_default=True, help="Operators to register and run."
)
@click.option(
    "--tasks",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Tasks to send over the generic and price-oracle definitions (beacon rounds come on top) "
    "[default: 30]. In a project: send this many over its definitions (their `example` params), "
    "print the outcome and exit [default: none, keep running].",
)
@click.option(
    "--offline-attesters",
    type=int,
    default=0,
    show_default=True,
    help="Stop this many attesters before the workload, to show non-signers.",
)
@click.option("--keep-running", is_flag=True, help="Leave the network up after the workload (Ctrl-C stops it).")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Deployment file, databases, proofs and logs (wiped at start) [default: .devnet, in a project "
    "the project's .devnet].",
)
@click.option(
    "--project",
    "project_dir",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Serve this AVS project (a folder with othentic.toml) [default: the one holding the current "
    "folder, if any; else the example AVSs].",
)
@click.option(
    "--lying-share",
    type=click.FloatRange(0, 1),
    default=0.1,
    show_default=True,
    help="Share of price-oracle tasks whose performer lies (attesters reject them; they get slashed).",
)
@click.option(
    "--concurrency", type=click.IntRange(1, 200), default=12, show_default=True, help="Tasks in flight at once."
)
@click.option(
    "--block-time",
    type=click.FloatRange(0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Mine a block every SECONDS (anvil's interval mining) instead of one per transaction: "
    "transactions wait in the pool as on a real chain [default: automine, plus an empty block every second].",
)
@click.option(
    "--aggregators",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Aggregators: above 1, the AVS owner turns the on-chain schedule on (turns of 2 s, grace 1 s) and that "
    "many operators opt in and run one each; performers get every aggregator's URL.",
)
@click.option(
    "--kill-aggregators",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="SIGKILL this many aggregators during the workload (fewer than --aggregators): the first after a "
    "share of the tasks finished, the next after the next share. The summary says who landed what.",
)
@click.pass_context
def devnet(
    ctx,
    operators,
    tasks,
    offline_attesters,
    keep_running,
    state_dir,
    project_dir,
    lying_share,
    concurrency,
    block_time,
    aggregators,
    kill_aggregators,
):
    """Run a local AVS network: your project's AVS, or the example AVSs.

    Inside an AVS project (a folder with othentic.toml, see `othentic init`): deploys the contracts,
    creates the project's task definitions by name, registers its operators, starts the proof
    store, the AVS's services, the aggregator, the attesters and one performer per definition with
    its triggers, prints where everything is and keeps running until Ctrl-C; editing the AVS's
    files restarts its services (the chain stays). With --tasks N it sends N tasks, prints their
    outcome and exits.

    Elsewhere: starts anvil, deploys the contracts (the plan of othentic deploy) and the example
    AVSs, registers OPERATORS operators with different stakes, starts the aggregator, one attester
    per operator and the example services as separate processes, sends TASKS tasks over the generic
    and price-oracle definitions while the randomness beacon performs every few blocks, and prints
    a summary of what landed on-chain. Nothing is left running when it exits (unless
    --keep-running, until Ctrl-C).

    With --aggregators N (N > 1), N operators opt in as aggregators on the on-chain schedule and
    run one each; --kill-aggregators K SIGKILLs K of them during the workload, and the summary says
    per aggregator the tasks it landed and the aggregator rewards credited and forfeited, and
    whether every task landed exactly once.
    """
    from othentic_offchain.project import ProjectError, find_project, load_project

    try:
        project = load_project(project_dir) if project_dir else find_project()
    except ProjectError as exc:
        raise click.ClickException(str(exc)) from exc
    if project is not None:
        for name in ("aggregators", "kill_aggregators"):
            if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE:
                option = "--" + name.replace("_", "-")
                raise click.UsageError(f"{option}: only for the example AVSs' devnet, not yet in a project")
        for name in ("operators", "offline_attesters", "lying_share"):
            if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE:
                option = "--" + name.replace("_", "-")
                raise click.UsageError(f"{option}: in a project, [devnet] of {project.root / 'othentic.toml'} says it")
        from othentic_offchain.cli.project_devnet import run_project_devnet

        run_project_devnet(project, tasks, keep_running, state_dir, concurrency, block_time)
        return
    from othentic_offchain.devnet.anvil import AnvilError
    from othentic_offchain.devnet.devnet import Devnet, DevnetOptions

    tasks = 30 if tasks is None else tasks
    out = console()
    options = DevnetOptions(
        operators=operators,
        tasks=tasks,
        keep_running=keep_running,
        offline_attesters=offline_attesters,
        state_dir=Path(state_dir or ".devnet"),
        lying_share=lying_share,
        concurrency=concurrency,
        block_time=block_time,
        aggregators=aggregators,
        kill_aggregators=kill_aggregators,
    )
    spinner = Spinner("dots", text="preparing")
    started = time.monotonic()
    net = None
    try:
        with Live(spinner, console=out, refresh_per_second=8, transient=True):

            def progress(text: str) -> None:
                spinner.update(text=f"{text}  [dim]({time.monotonic() - started:.0f} s)[/dim]")

            net = Devnet(options, progress)
            try:
                net.start()
            except ValueError as exc:
                raise click.UsageError(str(exc)) from exc
            except AnvilError as exc:
                raise click.ClickException(str(exc)) from exc
            runs = net.workload()
            progress("reporting the lying performers to the penalty manager")
            slashed = net.report_rejected()
            net.wait_for_beacon()
            progress("reading the results from the chain")
            summary = net.summary(runs, slashed, started)
        _print_summary(out, summary, net)
        if keep_running:
            _print_keep_running(out, net)
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                out.print("Stopping every process...")
        failed = summary.failures or (summary.aggregators is not None and not summary.aggregators.exactly_once)
        if failed:
            raise SystemExit(1)
    except KeyboardInterrupt:
        out.print("Interrupted: stopping every process...")
        raise SystemExit(130) from None
    finally:
        if net is not None:
            net.stop()


def _print_summary(out, s, net) -> None:
    from othentic_offchain.devnet.examples import DEFINITION_NAMES
    from othentic_offchain.devnet.stats import median, percentile

    table = Table(title="Tasks per definition (on-chain)", title_justify="left")
    for col in ("definition", "approved", "rejected", "gas per submission (median)", "min", "max"):
        table.add_column(col, justify="right" if col != "definition" else "left")
    for definition, name in DEFINITION_NAMES.items():
        counts, gas = s.per_definition[definition], s.gas[definition]
        table.add_row(
            f"{definition} {name}",
            str(counts["approved"]),
            str(counts["rejected"]),
            f"{median(gas):,.0f}" if gas else "-",
            f"{min(gas):,}" if gas else "-",
            f"{max(gas):,}" if gas else "-",
        )
    out.print(table)

    measured = (
        "sendTask accepted to receipt (aggregator's clock)"
        if s.aggregators is None
        else "trigger to the landing event seen on the chain"
    )
    latency = Table(title=f"Latency, {measured}", title_justify="left")
    for col in ("tasks", "p50", "p95", "max", "wall time"):
        latency.add_column(col, justify="right")
    lat = s.latencies
    latency.add_row(
        str(len(lat)),
        f"{percentile(lat, 50):.2f} s",
        f"{percentile(lat, 95):.2f} s",
        f"{max(lat):.2f} s" if lat else "-",
        f"{s.wall_seconds:.0f} s",
    )
    out.print(latency)

    operators = Table(title="Operators", title_justify="left")
    for col in ("id", "account", "stake", "votes on-chain", "rewards accrued", "slashed", "status"):
        operators.add_column(col, justify="right" if col not in ("account", "status") else "left")
    slashed: dict[int, int] = {}
    for operator_id, amount in s.slashed:
        slashed[operator_id] = slashed.get(operator_id, 0) + amount
    for operator_id, (account, stake, claimable) in s.rewards.items():
        status = "offline" if operator_id in s.offline else "online"
        operators.add_row(
            str(operator_id),
            account,
            tokens(stake),
            str(s.votes[operator_id]),
            tokens(claimable),
            tokens(slashed[operator_id]) if operator_id in slashed else "-",
            status,
        )
    out.print(operators)

    contracts = Table(title="Network", title_justify="left", show_header=False)
    contracts.add_column(style="bold")
    contracts.add_column()
    contracts.add_row("chain", s.rpc_url)
    block_time = net.options.block_time
    contracts.add_row("mining", f"a block every {block_time:g} s" if block_time else "a block per transaction")
    if s.aggregators is None:
        contracts.add_row("aggregator", s.aggregator_url)
    else:
        for row in s.aggregators.rows:
            contracts.add_row(f"aggregator (operator {row.operator_id})", row.endpoint)
    contracts.add_row("dashboard", net.dashboard_url)
    for name, address in s.contracts.items():
        contracts.add_row(name, address)
    contracts.add_row("randomness beacon", f"{s.beacon_rounds} rounds mixed in")
    if s.latest_price:
        contracts.add_row("price oracle", f"{s.latest_price[0]} = {s.latest_price[1] / 1e8:,.2f} (on-chain)")
    contracts.add_row("state and logs", str(net.state))
    out.print(contracts)
    if s.aggregators is not None:
        _print_aggregators(out, s.aggregators)
    if s.failures:
        out.print(f"[red]{len(s.failures)} task(s) did not land:[/red]")
        for run in s.failures[:10]:
            out.print(f"  definition {run.definition_id} {run.task_hash or ''}: {run.error}")
    else:
        out.print(f"[green]All {len(s.latencies)} tasks landed.[/green]")


def _print_aggregators(out, report) -> None:
    """Who landed what, per aggregator of the schedule, and whether every task landed once."""
    table = Table(
        title=f"Aggregators (on-chain schedule: turns of {report.turn_seconds} s, grace {report.grace_seconds} s)",
        title_justify="left",
    )
    columns = ("operator", "account", "status", "tasks landed", "rewards credited", "forfeited", "reverted (gas)")
    for col in columns:
        table.add_column(col, justify="left" if col in ("account", "status") else "right")
    for row in report.rows:
        table.add_row(
            str(row.operator_id),
            row.account,
            row.status,
            str(row.landed),
            tokens(row.credited),
            f"{row.forfeited} ({tokens(row.forfeited_amount)})",
            f"{row.reverted} ({row.reverted_gas:,})",
        )
    for account, landed in report.others.items():
        table.add_row("-", account, "off the list", str(landed), "0", "-", "-")
    out.print(table)
    if report.landed_twice:
        out.print(f"[red]{len(report.landed_twice)} task(s) landed more than once:[/red] {report.landed_twice[:5]}")
    if report.not_landed:
        out.print(f"[red]{len(report.not_landed)} accepted task(s) never landed:[/red] {report.not_landed[:5]}")
    if report.exactly_once:
        out.print(f"[green]Every task landed exactly once ({report.landings} landings on-chain).[/green]")


def _print_keep_running(out, net) -> None:
    key = net.operator_keys[3]
    out.print(
        "\nThe network keeps running. From another terminal:\n"
        f"  othentic task send --aggregator {net.aggregator_url} --private-key {key} \\\n"
        "      --proof-of-task 'hello from a second terminal' --data-sha256-of-proof --definition 0 --wait 30\n"
        f"  othentic task-definition list --deployment {net.deployment_path}\n"
        f"  othentic operator list --deployment {net.deployment_path}\n"
        f"Dashboard: {net.dashboard_url}  (open it in a browser)\n"
        f"Endpoints: {net.state / 'devnet.json'}.  Logs: {net.state / 'logs'}.  Ctrl-C stops everything."
    )
