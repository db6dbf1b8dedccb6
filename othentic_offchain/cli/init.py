"""``othentic init``: a new AVS project (the AVS in Python, othentic.toml, tests) from a template."""

from __future__ import annotations

import click

from othentic_offchain.cli.common import console
from othentic_offchain.project.scaffold import create_project, templates


@click.command(name="init")
@click.argument("name")
@click.option(
    "--template",
    type=click.Choice(templates()),
    default="minimal",
    show_default=True,
    help="minimal: one definition (uppercase a text); price-feed: a price oracle reading an external "
    "source (a fake one on this machine for the devnet and the tests).",
)
def init(name, template):
    """Create the folder NAME holding a new AVS project: avs.py (execute and validate per task
    definition), othentic.toml (the definitions by name, their triggers, the devnet's operators)
    and tests/ (unit tests and an end-to-end test on a throwaway network)."""
    try:
        folder = create_project(name, template)
    except (ValueError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from exc
    out = console()
    out.print(f"Created the AVS project {name} ({template}) in {folder}:")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        out.print(f"  {path.relative_to(folder)}")
    out.print(
        f"\nNext:\n  cd {name}\n  othentic devnet            # your AVS on a local network (Ctrl-C stops it)\n"
        "  othentic task send --definition NAME --params '{...}'   # from a second terminal\n"
        "  pytest                    # its tests (pip install pytest)"
    )


@click.command(name="install-anvil")
def install_anvil_command():
    """Install anvil (the local chain of `othentic devnet`), the pinned version, with npm into
    $XDG_DATA_HOME/othentic/anvil, where `othentic devnet` finds it."""
    from othentic_offchain.devnet.anvil import ANVIL_VERSION, AnvilError, install_anvil

    with console().status(f"npm install @foundry-rs/anvil@{ANVIL_VERSION} ..."):
        try:
            path = install_anvil()
        except AnvilError as exc:
            raise click.ClickException(str(exc)) from exc
    console().print(f"anvil {ANVIL_VERSION} installed: {path}")
