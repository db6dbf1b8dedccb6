"""``othentic aggregators ...``: opt in as an aggregator, change the endpoint, opt out; the AVS
owner's schedule settings; who the aggregators are and, for a task, whose turn comes when.

The schedule is the contract's (docs/decisions/0015-aggregator-schedule.md); the turn order of a
task is computed by its Python twin, :mod:`othentic_offchain.chain.schedule`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import click

from othentic_offchain.chain.client import TransactionReverted
from othentic_offchain.chain.schedule import MAX_AGGREGATOR_ENDPOINT_LENGTH, MAX_AGGREGATORS, read_schedule
from othentic_offchain.cli.common import (
    chain_options,
    connect,
    console,
    json_option,
    key_options,
    load_key,
    print_table,
    transactions,
)

#: What to do about each custom error the aggregator functions revert with, after the decoded error.
_HINTS = {
    "AggregatorLimitReached": "the AVS admits no more aggregators; its owner raises the limit with "
    "`othentic aggregators config --max N` (a fresh deployment admits none)",
    "AlreadyAggregator": "this operator is an aggregator already (`othentic aggregators endpoint URL` changes its URL)",
    "NotAggregator": "this account is not an aggregator (`othentic aggregators opt-in URL` first)",
    "NotRegistered": "only an active operator may opt in (`othentic operator register` first)",
    "EmptyEndpoint": "give the URL of your aggregator node",
    "EndpointTooLong": f"an endpoint is at most {MAX_AGGREGATOR_ENDPOINT_LENGTH} bytes",
    "InvalidAggregatorConfig": f"--max is 0 to {MAX_AGGREGATORS}, --turn-seconds at least 1 and "
    "--grace-seconds below --turn-seconds",
    "AccessControlUnauthorizedAccount": "only the AVS owner (the admin role) sets the aggregator schedule",
    "FlowPaused": "registrations are paused on this AVS; opting in waits until they are resumed",
}


def _hinted(func: Callable) -> Callable:
    """Add to a decoded revert what to do about it."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except TransactionReverted as exc:
            hint = _HINTS.get(exc.error or "")
            if hint:
                raise TransactionReverted(f"{exc}: {hint}", exc.error, exc.error_args, exc.receipt) from exc
            raise

    return wrapper


@click.group(name="aggregators")
def aggregators_group() -> None:
    """Aggregators following the on-chain schedule: opt in, change the endpoint, opt out, settings, list."""


@aggregators_group.command("opt-in")
@chain_options
@key_options
@click.argument("url")
@transactions
@_hinted
def opt_in(rpc, deployment, attestation_center, private_key, keystore, password_file, url):
    """Put this operator on the aggregator list, with URL where its aggregator node takes tasks.

    From the first opt-in on, a task's aggregator reward goes only to the aggregator on turn when
    it lands (or in its grace); run `othentic node aggregator` at URL before opting in.
    """
    chain = connect(rpc, deployment, attestation_center)
    sender = chain.sender(load_key(private_key, keystore, password_file))
    receipt = sender.send(chain.avs.center.functions.optInAsAggregator(url))
    (event,) = chain.avs.on_receipt(receipt, "AggregatorOptedIn")
    console().print(
        f"Operator {event['operatorId']} is aggregator {event['position'] + 1} of the list, taking tasks at {url}."
    )


@aggregators_group.command("endpoint")
@chain_options
@key_options
@click.argument("url")
@transactions
@_hinted
def endpoint(rpc, deployment, attestation_center, private_key, keystore, password_file, url):
    """Replace this aggregator's URL (its place on the list stays)."""
    chain = connect(rpc, deployment, attestation_center)
    sender = chain.sender(load_key(private_key, keystore, password_file))
    sender.send(chain.avs.center.functions.setAggregatorEndpoint(url))
    console().print(f"Aggregator {chain.avs.operator_id(sender.address)} now takes tasks at {url}.")


@aggregators_group.command("opt-out")
@chain_options
@key_options
@transactions
@_hinted
def opt_out(rpc, deployment, attestation_center, private_key, keystore, password_file):
    """Take this operator off the aggregator list (it stays an operator). The last aggregator of
    the list takes its place: the turns of tasks in flight change from this block."""
    chain = connect(rpc, deployment, attestation_center)
    sender = chain.sender(load_key(private_key, keystore, password_file))
    operator_id = chain.avs.operator_id(sender.address)
    sender.send(chain.avs.center.functions.optOutAsAggregator())
    console().print(f"Operator {operator_id} is no longer an aggregator.")


@aggregators_group.command("config")
@chain_options
@key_options
@click.option(
    "--max",
    "max_aggregators",
    type=int,
    default=None,
    help=f"How many aggregators may be listed (0 to {MAX_AGGREGATORS}; 0 admits nobody new) [default: unchanged].",
)
@click.option("--turn-seconds", type=int, default=None, help="Length of a turn, in seconds [default: unchanged].")
@click.option(
    "--grace-seconds",
    type=int,
    default=None,
    help="How long after its turn an aggregator is still paid (below --turn-seconds) [default: unchanged].",
)
@transactions
@_hinted
def config(
    rpc,
    deployment,
    attestation_center,
    private_key,
    keystore,
    password_file,
    max_aggregators,
    turn_seconds,
    grace_seconds,
):
    """Set how many aggregators may opt in and their turns (the AVS owner). Options not given keep
    their value; a limit below the number listed removes nobody."""
    if max_aggregators is None and turn_seconds is None and grace_seconds is None:
        raise click.UsageError("give at least one of --max, --turn-seconds, --grace-seconds")
    for name, value, low, high in (
        ("--max", max_aggregators, 0, MAX_AGGREGATORS),
        ("--turn-seconds", turn_seconds, 1, 2**32 - 1),
        ("--grace-seconds", grace_seconds, 0, 2**32 - 1),
    ):
        if value is not None and not low <= value <= high:
            raise click.BadParameter(f"{value} is not in {low} to {high}", param_hint=name)
    chain = connect(rpc, deployment, attestation_center)
    sender = chain.sender(load_key(private_key, keystore, password_file))
    current_max, _count, current_turn, current_grace = chain.avs.center.functions.aggregatorConfig().call()
    new = (
        current_max if max_aggregators is None else max_aggregators,
        current_turn if turn_seconds is None else turn_seconds,
        current_grace if grace_seconds is None else grace_seconds,
    )
    sender.send(chain.avs.center.functions.setAggregatorConfig(*new))
    console().print(f"Aggregators: at most {new[0]}, turns of {new[1]} s, grace {new[2]} s.")


@aggregators_group.command("list")
@chain_options
@json_option
@click.option(
    "--task",
    "task_hash",
    default=None,
    metavar="HASH",
    help="Show this task's turn order instead: who is on turn and when each backup's turn starts.",
)
@click.option(
    "--at",
    "timestamp",
    type=click.IntRange(0),
    default=None,
    metavar="TIMESTAMP",
    help="With --task: the block time to compute the turns at [default: the latest block's].",
)
def list_aggregators(rpc, deployment, attestation_center, as_json, task_hash, timestamp):
    """The aggregators in the schedule's order and its settings; with --task, that task's turns."""
    digest = _task_hash(task_hash) if task_hash is not None else None
    if timestamp is not None and digest is None:
        raise click.UsageError("--at needs --task")
    chain = connect(rpc, deployment, attestation_center)
    schedule = read_schedule(chain.avs.center)
    if digest is None:
        rows = [[i + 1, a.operator_id, a.account, a.endpoint] for i, a in enumerate(schedule.aggregators)]
        if not as_json:
            console().print(
                f"{len(schedule.aggregators)} of at most {schedule.max_aggregators} aggregators; turns of "
                f"{schedule.turn_seconds} s, grace {schedule.grace_seconds} s."
            )
        print_table("Aggregators", ["position", "operator", "account", "endpoint"], rows, as_json)
        return
    if not schedule.active:
        raise click.ClickException(
            "no aggregator has opted in: any active operator lands any task and takes its aggregator reward"
        )
    now = int(chain.w3.eth.get_block("latest")["timestamp"]) if timestamp is None else timestamp
    grace = schedule.in_grace(digest, now)
    rows = []
    for i, turn in enumerate(schedule.turns(digest, now)):
        if i == 0:
            state = "on turn"
        elif grace is not None and grace == turn.aggregator:  # its turn just ended: the last of this round
            state = f"in grace until {now - now % schedule.turn_seconds + schedule.grace_seconds}"
        else:
            state = "backup"
        rows.append(
            [
                i + 1,
                turn.aggregator.operator_id,
                turn.aggregator.account,
                turn.aggregator.endpoint,
                turn.starts,
                turn.ends,
                turn.starts - now,
                state,
            ]
        )
    if not as_json:
        console().print(
            f"Task 0x{digest.hex()} at block time {now}: turns of {schedule.turn_seconds} s, "
            f"grace {schedule.grace_seconds} s."
        )
    print_table(
        "Turns",
        ["order", "operator", "account", "endpoint", "starts", "ends", "starts in (s)", "now"],
        rows,
        as_json,
    )


def _task_hash(text: str) -> bytes:
    try:
        digest = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise click.BadParameter(f"{text!r} is not a task hash (32 bytes in hex)", param_hint="--task")
    return digest
