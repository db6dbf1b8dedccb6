"""What every ``othentic`` command shares: chain and key options, the config file, errors, output.

Options come, in order of precedence, from the command line, from environment variables (Othentic's
names where it has one: ``L2_RPC``, ``ATTESTATION_CENTER_ADDRESS``, ``PRIVATE_KEY``), and from a TOML
config file (``--config`` or ``$OTHENTIC_CONFIG``): top-level keys apply to every command, tables
named after a command apply to it (``[node.attester]``, ``[operator.register]``). Keys use the
option names with dashes or underscores: ``rpc = "http://127.0.0.1:8545"``.
"""

from __future__ import annotations

import functools
import json
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from othentic_offchain.chain.client import AvsContracts, TransactionReverted, TxSender
from othentic_offchain.chain.deploy import TOKEN, DeploymentNotFound, DeploymentRecord, default_deployment_path


def console() -> Console:
    out = Console(highlight=False)
    if not out.is_terminal:  # piped or captured: do not fold addresses and hashes at 80 columns
        out.width = max(out.width, 160)
    return out


# --- config file -----------------------------------------------------------------------------------


def _normalise(table: dict) -> dict:
    return {key.replace("-", "_"): (_normalise(v) if isinstance(v, dict) else v) for key, v in table.items()}


def default_map_from(data: dict, group: click.Group) -> dict:
    """Turn a config file into click's ``default_map``: top-level scalars reach every command.

    Keys are the options' names as typed (``json``, ``private-key``), whatever the parameter is
    called inside the command (``--json`` is stored as ``as_json``)."""
    data = _normalise(data)
    shared = {k: v for k, v in data.items() if not isinstance(v, dict)}

    def names(command: click.Command) -> dict[str, str]:
        found: dict[str, str] = {}
        for param in command.params:
            if param.name is None:  # a parameter that passes no value to the command
                continue
            found[param.name] = param.name
            for flag in getattr(param, "opts", []):
                found[flag.lstrip("-").replace("-", "_")] = param.name
        return found

    def build(command: click.Command, table: dict) -> dict:
        values = dict(shared)
        values.update({k: v for k, v in table.items() if not isinstance(v, dict)})
        known = names(command)
        result = {known.get(k, k): v for k, v in values.items()}
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                result[name] = build(sub, table.get(name.replace("-", "_"), {}))
        return result

    return build(group, data)


def load_config(ctx: click.Context, _param, value: str | None) -> str | None:
    path = value or os.environ.get("OTHENTIC_CONFIG")
    if not path:
        return value
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise click.BadParameter(f"config file {path} does not exist", param_hint="--config") from exc
    except tomllib.TOMLDecodeError as exc:
        raise click.BadParameter(f"{path} is not valid TOML: {exc}", param_hint="--config") from exc
    ctx.default_map = default_map_from(data, ctx.command)  # type: ignore[arg-type]
    return path


# --- shared options --------------------------------------------------------------------------------


def chain_options(func: Callable) -> Callable:
    """``--rpc``, ``--deployment``, ``--attestation-center``."""
    func = click.option(
        "--attestation-center",
        envvar="ATTESTATION_CENTER_ADDRESS",
        default=None,
        help="Center address, when there is no deployment file [env ATTESTATION_CENTER_ADDRESS].",
    )(func)
    func = click.option(
        "--deployment",
        envvar="OTHENTIC_DEPLOYMENT",
        default=None,
        type=click.Path(dir_okay=False),
        help="Deployment file written by `ape run deploy` or `othentic devnet` "
        "[env OTHENTIC_DEPLOYMENT; default deployments/<chain id>.json].",
    )(func)
    func = click.option(
        "--rpc",
        envvar=["L2_RPC", "RPC_URL"],
        multiple=True,
        callback=_rpc_urls,
        help="JSON-RPC URL of the chain; repeat it or separate URLs with commas for fail-over endpoints, "
        "used in order [env L2_RPC; default: the deployment file's rpc_url].",
    )(func)
    return func


def _rpc_urls(_ctx: click.Context, _param: click.Parameter, values: Any) -> str | None:
    """``--rpc`` given once or more, each one URL or a comma-separated list: one comma-separated list."""
    from othentic_offchain.chain.rpc import split_rpc_urls

    if not values:
        return None
    try:
        return ",".join(split_rpc_urls([values] if isinstance(values, str) else list(values)))
    except ValueError:
        return None


def key_options(func: Callable) -> Callable:
    """``--private-key``, ``--keystore``, ``--password-file``: the operator's ECDSA key."""
    func = click.option(
        "--password-file",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="File holding the keystore's password [or env KEYSTORE_PASSWORD].",
    )(func)
    func = click.option(
        "--keystore",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="Encrypted Ethereum keystore (geth/Ape/cast format) of the operator's account.",
    )(func)
    func = click.option(
        "--private-key",
        default=None,
        help="The account's private key [env PRIVATE_KEY]. "
        "Prefer --keystore outside devnets: command lines are visible to other users.",
    )(func)
    return func


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")(func)


@dataclass
class Chain:
    w3: Any
    record: DeploymentRecord
    avs: AvsContracts
    rpc_url: str

    def sender(self, private_key: str) -> TxSender:
        return self.avs.sender(private_key)


def connect(rpc: str | None, deployment: str | None, attestation_center: str | None) -> Chain:
    """The deployment and a web3 connection (fail-over between the endpoints of a comma-separated
    ``rpc``), from the options; clear errors otherwise."""
    record = None
    if deployment:
        try:
            record = DeploymentRecord.load(deployment)
        except DeploymentNotFound as exc:
            raise click.ClickException(str(exc)) from exc
    rpc = rpc or (record.rpc_url if record else None)
    if not rpc:
        raise click.ClickException("no chain to talk to: give --rpc (or $L2_RPC), or a deployment file with rpc_url")
    from othentic_offchain.chain.rpc import sync_web3
    from othentic_offchain.nodes.common.redact import redact_url, scrub_urls

    shown = redact_url(rpc)
    w3 = sync_web3(rpc, 30)
    try:
        chain_id = w3.provider.check_endpoints()  # one try each: a command fails fast
    except ValueError as exc:
        raise click.ClickException(scrub_urls(str(exc), rpc)) from exc
    if chain_id is None:
        reasons = "; ".join(f"{e['endpoint']}: {e['lastError']}" for e in w3.provider.policy.status())
        raise click.ClickException(f"cannot reach the chain at {shown}: {reasons}")
    if record is None:
        record = _record_for(w3, chain_id, attestation_center)
    if record.chain_id != chain_id:
        raise click.ClickException(f"the deployment is for chain {record.chain_id} but {shown} is chain {chain_id}")
    w3.provider.policy.expect_chain_id = chain_id  # the endpoints that did not answer: checked before use
    try:
        w3.provider.check_endpoints()
    except ValueError as exc:
        raise click.ClickException(scrub_urls(str(exc), rpc)) from exc
    if not w3.eth.get_code(w3.to_checksum_address(record.attestation_center)):
        raise click.ClickException(
            f"no contract at {record.attestation_center} on chain {chain_id} ({shown}): "
            "is the deployment file for another network, or the chain reset?"
        )
    return Chain(w3, record, AvsContracts(w3, record), rpc)


def _record_for(w3, chain_id: int, center: str | None) -> DeploymentRecord:
    if center is None:
        path = default_deployment_path(chain_id)
        try:
            return DeploymentRecord.load(path)
        except DeploymentNotFound as exc:
            raise click.ClickException(
                f"no deployment: give --deployment FILE or --attestation-center ADDRESS (looked for {path})"
            ) from exc
    from othentic_offchain.chain.artifacts import load_artifact

    contract = load_artifact("IAttestationCenter").contract(w3, center)
    try:
        contracts = {
            "AttestationCenter": contract.address,
            "StakeToken": contract.functions.stakeToken().call(),
            "RewardsVault": contract.functions.rewardsVault().call(),
        }
        vault = load_artifact("RewardsVault").contract(w3, contracts["RewardsVault"])
        contracts["RewardToken"] = vault.functions.rewardToken().call()
    except Exception as exc:
        raise click.ClickException(f"{center} does not answer as an attestation center: {exc}") from exc
    contracts.setdefault("PenaltyManager", "0x" + "00" * 20)
    return DeploymentRecord(chain_id=chain_id, contracts=contracts, deployer="", block_number=0)


def load_key(private_key: str | None, keystore: str | None, password_file: str | None) -> str:
    from othentic_offchain.crypto.keys import KeyLoadError, load_ecdsa_key

    try:
        return load_ecdsa_key(private_key, keystore, password_file=password_file)
    except KeyLoadError as exc:
        raise click.ClickException(str(exc)) from exc


def transactions(func: Callable) -> Callable:
    """Turn contract reverts and RPC failures into one-line errors instead of tracebacks."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except TransactionReverted as exc:
            raise click.ClickException(str(exc)) from exc
        except (ConnectionError, TimeoutError) as exc:
            raise click.ClickException(f"the chain did not answer: {exc}") from exc

    return wrapper


def parse_amount(text: str) -> int:
    """``10`` tokens (18 decimals), ``10.5``, or an exact integer with ``wei`` (``123wei``)."""
    text = text.strip().lower().replace("_", "")
    try:
        if text.endswith("wei"):
            return int(text[:-3])
        whole, _, frac = text.partition(".")
        if len(frac) > 18:
            raise ValueError
        return int(whole or "0") * TOKEN + int((frac or "0").ljust(18, "0"))
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not an amount (e.g. 10, 0.5 or 1000wei)") from exc


def tokens(amount: int) -> str:
    return f"{amount / TOKEN:,.6f}".rstrip("0").rstrip(".")


def print_table(title: str, columns: list[str], rows: list[list[Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([dict(zip(columns, row)) for row in rows], default=str, indent=2))
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console().print(table)


def run_until_stopped(main) -> None:
    """Run the coroutine ``main`` until it ends or the process gets SIGINT/SIGTERM, then let it
    clean up (its ``finally`` blocks run): nodes close their databases and sockets on Ctrl-C and on
    a supervisor's SIGTERM alike."""
    import asyncio
    import signal

    async def runner():
        task = asyncio.ensure_future(main)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(runner())


def ready_line(what: str, url: str) -> None:
    """The one line a node prints on stdout once it listens (supervisors and tests wait for it)."""
    click.echo(f"{what} listening on {url}", err=False)
    import sys

    sys.stdout.flush()
