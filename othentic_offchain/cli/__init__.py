"""The ``othentic`` command line (console script declared in pyproject.toml)."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from othentic_offchain import __version__
from othentic_offchain.cli.common import load_config


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:  # piped or captured: do not fold addresses and hashes at 80 columns
        console.width = max(console.width, 120)
    return console


def _mark(value: bool | None, expected: bool) -> str:
    if value is None:
        return "-"
    return f"{'valid' if value else 'invalid'} {'ok' if value is expected else 'WRONG'}"


@click.group(name="othentic", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="othentic")
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    callback=load_config,
    is_eager=True,
    expose_value=False,
    help="TOML file of option defaults [env OTHENTIC_CONFIG]: top-level keys for every command, "
    "[command.subcommand] tables for one.",
)
def cli() -> None:
    """othentic: run an AVS task network (Othentic-compatible) with contracts on any EVM chain.

    Operators run nodes (`node attester`, `node aggregator`, `node performer`) next to an AVS's
    services (`services`); AVS owners define tasks (`task-definition`) and fund rewards (`rewards`);
    operators who land tasks opt in as aggregators (`aggregators`);
    `init` makes a new AVS project and `devnet` brings a whole local network up in one command
    (inside a project: that project's AVS). Options also come from environment
    variables (Othentic's names: L2_RPC, PRIVATE_KEY, ATTESTATION_CENTER_ADDRESS) and --config.
    Run `othentic COMMAND --help` for each command.
    """


@cli.command()
@click.option(
    "--operators",
    default=10,
    show_default=True,
    type=click.IntRange(1, 200),
    help="Number of BLS key pairs to generate (deterministic seeds).",
)
@click.option(
    "--signers",
    default=7,
    show_default=True,
    type=click.IntRange(1, 200),
    help="How many of the operators sign the vote.",
)
def demo(operators: int, signers: int) -> None:
    """BLS round trip on a fresh anvil: keys, votes, aggregation, on-chain verification.

    Starts anvil (a free port, hardfork prague), deploys BLSVerifier from the compiled build,
    generates OPERATORS key pairs from seeds, signs the vote hash of a sample task with SIGNERS of
    them, aggregates, and verifies the aggregate through the contract (eth_call) and through the
    pairing precompile. A tampered message and a wrong key set must be rejected. Stops anvil and
    exits 0 only if every check holds.
    """
    from othentic_offchain.chain.artifacts import ArtifactsNotFound, ContractNotFound
    from othentic_offchain.demo import run_demo
    from othentic_offchain.devnet.anvil import AnvilError

    if signers > operators:
        raise click.BadParameter(f"cannot exceed --operators ({operators})", param_hint="--signers")
    console = _console()
    try:
        with console.status("running the BLS demo on anvil..."):
            result = run_demo(operators=operators, signers=signers)
    except (AnvilError, ArtifactsNotFound, ContractNotFound) as exc:
        raise click.ClickException(str(exc)) from exc

    network = Table(title="Network", show_header=False, title_justify="left")
    network.add_column(style="bold")
    network.add_column(overflow="fold")
    network.add_row("anvil", f"{result.rpc_url} (chain id {result.chain_id}, hardfork {result.hardfork})")
    network.add_row("BLSVerifier", f"{result.verifier} (deployment gas {result.deploy_gas:,})")
    network.add_row("vote hash", "0x" + result.vote_hash.hex())
    network.add_row("vote hash = contract's voteHash", "yes" if result.vote_hash_matches_contract else "NO")
    console.print(network)

    checks = Table(title="Checks", title_justify="left")
    checks.add_column("check")
    checks.add_column("expected")
    checks.add_column("contract (eth_call)")
    checks.add_column("pairing precompile")
    for check in result.checks:
        checks.add_row(
            check.name,
            "valid" if check.expected else "invalid",
            _mark(check.contract, check.expected),
            _mark(check.precompile, check.expected),
        )
    console.print(checks)

    timings = Table(title="Timings", title_justify="left")
    timings.add_column("step")
    timings.add_column("ms", justify="right")
    for step, ms in result.timings_ms.items():
        timings.add_row(step, f"{ms:.1f}")
    console.print(timings)
    console.print(f"Gas of one on-chain verification (whole transaction): {result.verify_gas:,}")

    if result.ok:
        console.print("[green]All checks passed.[/green]")
    else:
        console.print("[red]FAILED: a check did not give the expected result.[/red]")
        raise SystemExit(1)


from othentic_offchain.cli.aggregators import aggregators_group  # noqa: E402
from othentic_offchain.cli.dashboard import dashboard  # noqa: E402
from othentic_offchain.cli.definitions import definitions_group  # noqa: E402
from othentic_offchain.cli.deploy import deploy  # noqa: E402
from othentic_offchain.cli.devnet import devnet  # noqa: E402
from othentic_offchain.cli.init import init, install_anvil_command  # noqa: E402
from othentic_offchain.cli.keys import keys_group  # noqa: E402
from othentic_offchain.cli.nodes import node_group  # noqa: E402
from othentic_offchain.cli.operator import operator_group  # noqa: E402
from othentic_offchain.cli.rewards import rewards_group  # noqa: E402
from othentic_offchain.cli.services import proofs_group, services  # noqa: E402
from othentic_offchain.cli.tasks import task_group  # noqa: E402

for _group in (
    init,
    install_anvil_command,
    deploy,
    devnet,
    dashboard,
    node_group,
    operator_group,
    aggregators_group,
    definitions_group,
    task_group,
    rewards_group,
    keys_group,
    services,
    proofs_group,
):
    cli.add_command(_group)


def main() -> None:
    cli(prog_name="othentic")


if __name__ == "__main__":
    main()
