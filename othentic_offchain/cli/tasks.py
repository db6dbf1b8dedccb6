"""``othentic task ...``: send a task to an aggregator as its performer, and follow it."""

from __future__ import annotations

import json
import time

import click

from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.cli.common import (
    chain_options,
    connect,
    console,
    json_option,
    key_options,
    load_key,
    print_table,
)
from othentic_offchain.jsonrpc import BlockingJsonRpcClient, JsonRpcError, JsonRpcTransportError

DEFAULT_AGGREGATOR = "http://127.0.0.1:8545"


def rpc_call(url: str, method: str, params, timeout: float = 30.0):
    """One JSON-RPC 2.0 call to the aggregator; any failure becomes a ClickException saying why."""
    try:
        return BlockingJsonRpcClient(url, timeout=timeout).call(method, params)
    except JsonRpcError as error:
        detail = f" ({error.data})" if error.data else ""
        raise click.ClickException(f"{method} refused: {error.message}{detail} [code {error.code}]") from error
    except JsonRpcTransportError as exc:
        if exc.answered:
            raise click.ClickException(str(exc)) from exc
        raise click.ClickException(f"cannot reach the aggregator at {url}: {exc.reason}") from exc


def _signing_domain(
    aggregator: str, deployment: str | None, center: str | None, chain_id: int | None
) -> tuple[str, int]:
    """The center and chain a performer signature is bound to: given, from the deployment file, or
    else the aggregator's; a pinned one must be the one the aggregator serves."""
    from eth_utils import is_address, to_checksum_address

    from othentic_offchain.chain.deploy import DeploymentNotFound, DeploymentRecord

    pinned: tuple[str, int] | None = None
    if center is not None or chain_id is not None:
        if center is None or chain_id is None:
            raise click.UsageError("give --attestation-center and --chain-id together")
        if not is_address(center):
            raise click.BadParameter(f"{center!r} is not an address", param_hint="--attestation-center")
        pinned = (to_checksum_address(center), chain_id)
    elif deployment:
        try:
            record = DeploymentRecord.load(deployment)
        except DeploymentNotFound as exc:
            raise click.ClickException(str(exc)) from exc
        pinned = (to_checksum_address(record.attestation_center), int(record.chain_id))
    health = rpc_call(aggregator, "health", [])
    try:
        served = (to_checksum_address(health["attestationCenter"]), int(health["chainId"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise click.ClickException(
            f"the aggregator at {aggregator} does not say which center it serves: {exc}"
        ) from exc
    if pinned is not None and pinned != served:
        raise click.ClickException(
            f"the aggregator at {aggregator} serves the attestation center {served[0]} on chain {served[1]}, "
            f"not {pinned[0]} on chain {pinned[1]}: nothing was signed"
        )
    return served


def _aggregator_option(func):
    return click.option(
        "--aggregator",
        envvar="OTHENTIC_AGGREGATOR",
        default=DEFAULT_AGGREGATOR,
        show_default=True,
        help="The aggregator's JSON-RPC URL [env OTHENTIC_AGGREGATOR].",
    )(func)


@click.group(name="task")
def task_group() -> None:
    """Send tasks to an aggregator and follow them until they land."""


@task_group.command("send")
@_aggregator_option
@key_options
@click.option(
    "--params",
    "params_json",
    default=None,
    metavar="JSON",
    help="Run the task through the definition's performer (its execute function, with these parameters, "
    "a JSON object), wait for it to land and print the outcome: side, votes, gas, data. In an AVS project "
    "whose `othentic devnet` is running (no key needed: the performer signs).",
)
@click.option(
    "--performer",
    default=None,
    metavar="URL",
    help="With --params outside a project: the performer to trigger (its API, POST /performer/v1/trigger).",
)
@click.option("--proof-of-task", default=None, help="Proof of task (usually the CID of the stored result).")
@click.option("--data", "data_hex", default=None, help="Task data as 0x-hex.")
@click.option("--data-text", default=None, help="Task data as text (sent as its UTF-8 bytes).")
@click.option(
    "--data-sha256-of-proof",
    "hash_proof",
    is_flag=True,
    help="Task data = SHA-256 of the proof-of-task string (the generic definition 0 of the devnet).",
)
@click.option(
    "--definition",
    "definition",
    default="0",
    show_default=True,
    help="Task definition: its id, or its name (looked up in the project's devnet, or in the deployment "
    "file's `definitions`).",
)
@click.option(
    "--wait",
    "wait_seconds",
    type=float,
    default=None,
    help="Wait up to this many seconds for the task to land [default: 0; with --params 120].",
)
@json_option
@click.option(
    "--deployment",
    envvar="OTHENTIC_DEPLOYMENT",
    default=None,
    type=click.Path(dir_okay=False),
    help="Deployment file naming the attestation center and chain the signature is bound to "
    "[env OTHENTIC_DEPLOYMENT; default: the center and chain the aggregator serves].",
)
@click.option(
    "--attestation-center",
    default=None,
    help="Bind the signature to this attestation center (with --chain-id), instead of --deployment.",
)
@click.option(
    "--chain-id", type=int, default=None, help="Bind the signature to this chain (with --attestation-center)."
)
@click.pass_context
def send(
    ctx,
    aggregator,
    private_key,
    keystore,
    password_file,
    params_json,
    performer,
    proof_of_task,
    data_hex,
    data_text,
    hash_proof,
    definition,
    wait_seconds,
    as_json,
    deployment,
    attestation_center,
    chain_id,
):
    """Send a task: through a performer (--params), or signed here as its performer (--proof-of-task).

    With --params, in an AVS project whose `othentic devnet` runs: the definition's performer runs
    the AVS's execute function with the parameters, signs and sends the task; this waits for it to
    land and prints what became of it (side, each operator's vote, gas, the data on-chain, and the
    validation answers that disagreed with the outcome). Exits 1 if it did not land.

    With --proof-of-task: signs the task with the key given and sends it to the aggregator
    (`sendTask`); prints the task hash. The signature is bound to one attestation center on one
    chain (it lands nowhere else): the deployment file's, the one given, or else the one the
    aggregator serves. When one is given and the aggregator serves another, nothing is signed."""
    from eth_account import Account

    devnet = _project_devnet()
    if devnet is not None and "missing" not in devnet:  # a project whose devnet runs: its aggregator, deployment
        if ctx.get_parameter_source("aggregator") is click.core.ParameterSource.DEFAULT:
            aggregator = devnet["aggregator"]
        deployment = deployment or devnet["deployment"]
    if params_json is not None:
        if proof_of_task is not None or data_hex is not None or data_text is not None or hash_proof:
            raise click.UsageError("--params runs the AVS's execute function: give no --proof-of-task nor --data")
        _send_through_performer(
            devnet,
            performer,
            aggregator,
            deployment,
            definition,
            params_json,
            120.0 if wait_seconds is None else wait_seconds,
            as_json,
        )
        return
    if performer is not None:
        raise click.UsageError("--performer triggers a performer with --params; give --params")
    if proof_of_task is None:
        raise click.UsageError("give --params (through the performer) or --proof-of-task (signed here)")
    definition_id = _definition_id(definition, devnet, deployment)
    if sum(x is not None and x is not False for x in (data_hex, data_text, hash_proof or None)) > 1:
        raise click.UsageError("give one of --data, --data-text, --data-sha256-of-proof")
    if hash_proof:
        import hashlib

        data = hashlib.sha256(proof_of_task.encode()).digest()
    elif data_hex is not None:
        if not data_hex.startswith("0x"):
            raise click.BadParameter("must be 0x-hex", param_hint="--data")
        data = bytes.fromhex(data_hex[2:])
    else:
        data = (data_text or "").encode()
    key = load_key(private_key, keystore, password_file)
    performer = Account.from_key(key).address
    task = TaskInfo(proof_of_task, data, performer, definition_id)
    center, chain = _signing_domain(aggregator, deployment, attestation_center, chain_id)
    signature = task.sign(key, center, chain)
    params = [proof_of_task, "0x" + data.hex(), definition_id, performer, "0x" + signature.hex()]
    task_hash = rpc_call(aggregator, "sendTask", params)
    console().print(f"Sent task {task_hash} (definition {definition_id}, performer {performer}).")
    if wait_seconds:
        status = _wait(aggregator, task_hash, wait_seconds)
        if as_json:
            click.echo(json.dumps(status, indent=2))
        console().print(
            f"Task {status.get('status')}: " + json.dumps({k: v for k, v in status.items() if k != "votes"})
        )
        if status.get("status") != "landed":
            raise SystemExit(1)


def _project_devnet() -> dict | None:
    """``devnet.json`` of the AVS project holding the current folder, if its devnet wrote one."""
    from othentic_offchain.project import ProjectError, find_project
    from othentic_offchain.project.devnet import ENDPOINTS_FILE

    try:
        project = find_project()
    except ProjectError as exc:
        raise click.ClickException(str(exc)) from exc
    if project is None:
        return None
    path = project.state_dir / ENDPOINTS_FILE
    try:
        return {**json.loads(path.read_text()), "projectName": project.name}
    except FileNotFoundError:
        return {"missing": str(path), "projectName": project.name}


def _definition_id(definition: str, devnet: dict | None, deployment: str | None) -> int:
    """A definition's id: given as a number, or its name looked up (never guessed)."""
    if definition.isdigit():
        return int(definition)
    known: dict[str, int] = {}
    if devnet is not None and "definitions" in devnet:
        known = devnet["definitions"]
    elif deployment:
        from othentic_offchain.chain.deploy import DeploymentNotFound, DeploymentRecord

        try:
            known = DeploymentRecord.load(deployment).definitions
        except DeploymentNotFound as exc:
            raise click.ClickException(str(exc)) from exc
    if definition not in known:
        where = "the project's devnet" if devnet is not None else (deployment or "no deployment file")
        raise click.BadParameter(
            f"no task definition named {definition!r} in {where}"
            + (f" (it has {', '.join(map(repr, known))})" if known else ": give its id, or run `othentic devnet`"),
            param_hint="--definition",
        )
    return int(known[definition])


def _send_through_performer(
    devnet: dict | None,
    performer: str | None,
    aggregator: str,
    deployment: str | None,
    name: str,
    params_json: str,
    wait: float,
    as_json: bool,
) -> None:
    """Trigger a performer (the project devnet's for the definition, or the one at ``performer``),
    then follow the task through the aggregator and print its outcome."""
    from othentic_offchain.chain.client import AvsContracts
    from othentic_offchain.chain.deploy import DeploymentNotFound, DeploymentRecord
    from othentic_offchain.chain.rpc import sync_web3
    from othentic_offchain.devnet.http import post_json
    from othentic_offchain.project.outcome import wait_outcome

    try:
        params = json.loads(params_json)
        if not isinstance(params, dict):
            raise ValueError("expected a JSON object")
    except ValueError as exc:
        raise click.BadParameter(f"not a JSON object of parameters: {exc}", param_hint="--params") from exc
    if performer is not None:
        if not deployment:
            raise click.UsageError("--performer needs the deployment file (--deployment or $OTHENTIC_DEPLOYMENT)")
        definition_id = _definition_id(name, None, deployment)
        try:
            record = DeploymentRecord.load(deployment)
        except DeploymentNotFound as exc:
            raise click.ClickException(str(exc)) from exc
        names, rpc, url = {int(i): n for n, i in record.definitions.items()}, record.rpc_url, performer
    else:
        if devnet is None:
            raise click.UsageError(
                "--params needs the performer: run it in an AVS project whose `othentic devnet` runs "
                "(see `othentic init`), or give --performer URL"
            )
        if "missing" in devnet:
            raise click.ClickException(
                f"the devnet of {devnet['projectName']} is not running (no {devnet['missing']}): "
                "start `othentic devnet` in the project, in another terminal"
            )
        definition_id = _definition_id(name, devnet, None)
        names = {int(i): n for n, i in devnet["definitions"].items()}
        record = DeploymentRecord.load(devnet["deployment"])
        rpc, url, aggregator = devnet["rpc"], devnet["performers"][names[definition_id]], devnet["aggregator"]
    shown = repr(names.get(definition_id, definition_id))
    try:
        status, body = post_json(f"{url}/performer/v1/trigger", {"params": params}, timeout=60.0)
    except OSError as exc:
        raise click.ClickException(f"the performer at {url} does not answer ({exc}): is it running?") from exc
    if status not in (200, 202) or not body.get("taskHash"):
        raise click.ClickException(f"the performer at {url} refused the task ({status}): {body.get('message', body)}")
    out = console()
    if not as_json:
        out.print(f"Sent task {body['taskHash']} (definition {shown}, id {definition_id}) through its performer.")
    avs = AvsContracts(sync_web3(rpc, 30), record) if rpc else None
    outcome = wait_outcome(aggregator, body["taskHash"], avs=avs, names=names, timeout=wait)
    if as_json:
        click.echo(outcome.to_json())
    else:
        print_outcome(out, outcome)
    if not outcome.landed:
        raise SystemExit(1)


def print_outcome(out, outcome) -> None:
    """A task's outcome as a builder reads it."""
    if not outcome.landed:
        out.print(f"[red]Task {outcome.status}[/red]: {outcome.error}")
        return
    colour = "green" if outcome.side == "approve" else "red"
    out.print(f"Task landed: [{colour}]{outcome.side}[/{colour}] (task number {outcome.task_number}).")
    rows = [
        ["votes", ", ".join(f"operator {i}: {side}" for i, side in sorted(outcome.votes.items())) or "-"],
        [
            "disagreed",
            ", ".join(f"operator {i} answered {side}" for i, side in sorted(outcome.disagreed.items()))
            or "no attester answered against the outcome",
        ],
        ["non-signers", ", ".join(map(str, outcome.non_signers)) or "-"],
        ["gas", f"{outcome.gas:,} (block {outcome.block}, tx {outcome.tx_hash})" if outcome.gas else "-"],
        ["performer", outcome.performer or "-"],
        ["proof of task", outcome.proof_of_task or "-"],
        ["data", _data_text(outcome.data_bytes)],
    ]
    from rich.table import Table

    table = Table(title=f"Task {outcome.task_hash}", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _data_text(data: bytes) -> str:
    shown = "0x" + data.hex()
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return shown
    return f"{shown} ({text!r})" if text.isprintable() else shown


def _wait(aggregator: str, task_hash: str, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        status = rpc_call(aggregator, "taskStatus", [task_hash])
        if status.get("status") in ("landed", "failed") or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


@task_group.command("status")
@_aggregator_option
@json_option
@click.argument("task_hash")
def status(aggregator, as_json, task_hash):
    """What the aggregator knows of a task: status, votes per side, transaction, task number."""
    result = rpc_call(aggregator, "taskStatus", [task_hash])
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    rows = [[k, json.dumps(v) if isinstance(v, (dict, list)) else v] for k, v in result.items()]
    print_table(f"Task {task_hash}", ["field", "value"], rows, False)


@task_group.command("show")
@chain_options
@json_option
@click.argument("task_hash")
def show(rpc, deployment, attestation_center, as_json, task_hash):
    """What the chain recorded for a task: number, block, side (no aggregator needed)."""
    chain = connect(rpc, deployment, attestation_center)
    number, block, approved = chain.avs.task_record(bytes.fromhex(task_hash.removeprefix("0x")))
    if number == 0:
        raise click.ClickException(f"task {task_hash} has not landed on chain {chain.record.chain_id}")
    print_table(
        f"Task {task_hash}",
        ["task number", "block", "side"],
        [[number, block, "approved" if approved else "rejected"]],
        as_json,
    )
