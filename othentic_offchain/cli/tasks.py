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
@click.option("--proof-of-task", required=True, help="Proof of task (usually the CID of the stored result).")
@click.option("--data", "data_hex", default=None, help="Task data as 0x-hex.")
@click.option("--data-text", default=None, help="Task data as text (sent as its UTF-8 bytes).")
@click.option(
    "--data-sha256-of-proof",
    "hash_proof",
    is_flag=True,
    help="Task data = SHA-256 of the proof-of-task string (the generic definition 0 of the devnet).",
)
@click.option("--definition", "definition_id", type=int, default=0, show_default=True, help="Task definition id.")
@click.option(
    "--wait", "wait_seconds", type=float, default=0, help="Wait up to this many seconds for the task to land."
)
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
def send(
    aggregator,
    private_key,
    keystore,
    password_file,
    proof_of_task,
    data_hex,
    data_text,
    hash_proof,
    definition_id,
    wait_seconds,
    deployment,
    attestation_center,
    chain_id,
):
    """Sign a task as its performer and send it to the aggregator (`sendTask`). Prints the task hash.

    The signature is bound to one attestation center on one chain (it lands nowhere else): the
    deployment file's, the one given, or else the one the aggregator serves. When one is given and
    the aggregator serves another, nothing is signed."""
    from eth_account import Account

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
        console().print(
            f"Task {status.get('status')}: " + json.dumps({k: v for k, v in status.items() if k != "votes"})
        )
        if status.get("status") != "landed":
            raise SystemExit(1)


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
