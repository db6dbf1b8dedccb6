"""``othentic dashboard``: the live dashboard of a network, served over HTTP."""

from __future__ import annotations

import click

from othentic_offchain.cli.common import chain_options, connect, ready_line, run_until_stopped


@click.command(name="dashboard")
@click.option(
    "--aggregator",
    required=True,
    envvar="OTHENTIC_AGGREGATOR",
    help="URL of the aggregator's JSON-RPC (its tasks and votes) [env OTHENTIC_AGGREGATOR].",
)
@chain_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8090, show_default=True, help="0: any free port.")
@click.option(
    "--refresh",
    type=click.FloatRange(0.2, 60),
    default=1.0,
    show_default=True,
    help="Seconds between two reads of the aggregator and the chain (every open page shares them).",
)
def dashboard(aggregator, rpc, deployment, attestation_center, host, port, refresh):
    """Serve a live web page of the network: tasks as they move (votes per operator, landed or
    rejected, failures and their reasons, latency, gas), the operators (stake, voting power, online,
    votes, rewards, slashes), the task definitions and the center's recent events.

    Read-only (no key): data from the aggregator's JSON-RPC (listTasks, health, operatorActivity)
    and from the chain (the deployment file, or --attestation-center with --rpc). Open the URL it
    prints in a browser; `othentic devnet` starts one by itself.
    """
    from othentic_offchain.dashboard.server import DashboardServer
    from othentic_offchain.dashboard.source import DashboardOptions, DashboardSource
    from othentic_offchain.nodes.aggregator.discovery import normalize_url

    try:
        aggregator = normalize_url(aggregator)
    except ValueError as exc:
        raise click.BadParameter(
            str(exc).replace("attester URL", "the aggregator's URL"), param_hint="--aggregator"
        ) from None
    chain = connect(rpc, deployment, attestation_center)  # clear errors now, before serving
    source = DashboardSource(aggregator, chain.record, chain.rpc_url, DashboardOptions(refresh_interval=refresh))
    server = DashboardServer(source, host=host, port=port)

    async def main():
        try:
            url = await server.start()
            ready_line("dashboard", url)
            import asyncio

            await asyncio.Event().wait()
        finally:
            await server.stop()

    run_until_stopped(main())
