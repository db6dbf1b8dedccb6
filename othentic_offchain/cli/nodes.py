"""``othentic node attester|aggregator|performer``: the long-running nodes.

Each prints one ``... listening on <url>`` line once it serves (supervisors wait for it), logs one
JSON line per task step on stderr, serves ``GET /metrics`` (Prometheus) and ``GET /health``, and
stops cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json

import click

from othentic_offchain.cli.common import chain_options, connect, key_options, load_key, ready_line, run_until_stopped
from othentic_offchain.cli.operator import _bls_options, load_bls
from othentic_offchain.nodes.common.observability import configure_logging
from othentic_offchain.nodes.common.protocol import SERVICE_TIMEOUT, VOTE_TIMEOUT


@click.group(name="node")
def node_group() -> None:
    """Run a node: an attester (votes on tasks), the aggregator (collects votes, submits), a performer."""


def _log_option(func):
    return click.option(
        "--log-level",
        default="info",
        show_default=True,
        type=click.Choice(["debug", "info", "warning", "error"]),
        help="Structured logs on stderr.",
    )(func)


def _performer_options(func, *, standalone: bool):
    options = [
        click.option(
            "--definition" if standalone else "--performer-definition",
            "definition",
            type=int,
            default=0 if standalone else None,
            help="Task definition to perform" + ("." if standalone else " (also run a performer for this operator)."),
        ),
        click.option(
            "--execution-service",
            envvar="OTHENTIC_EXECUTION_SERVICE",
            default=None,
            help="The AVS's Execution Service URL (POST /task/execute).",
        ),
        click.option(
            "--aggregator",
            envvar="OTHENTIC_AGGREGATOR",
            multiple=True,
            default=("http://127.0.0.1:8545",),
            show_default=True,
            metavar="URL[,URL...]",
            callback=lambda _ctx, _param, values: _aggregators(values),
            help="An aggregator's JSON-RPC URL. Repeatable or comma-separated: a task goes to the first "
            "that takes it, failing over to the next when one is down or busy.",
        ),
        click.option(
            "--outbox" if standalone else "--performer-outbox",
            "outbox",
            type=click.Path(dir_okay=False),
            default=None,
            help="SQLite file keeping every signed task until an aggregator takes it (sent again after a "
            "restart) [default $XDG_DATA_HOME/othentic/performer-<chain id>-<operator address>.sqlite3, "
            "XDG_DATA_HOME defaulting to ~/.local/share].",
        ),
        click.option(
            "--task-deadline" if standalone else "--performer-task-deadline",
            "task_deadline",
            type=click.FloatRange(0, min_open=True),
            default=600.0,
            show_default=True,
            metavar="SECONDS",
            help="Retry sending a signed task for this long before giving it up.",
        ),
        click.option(
            "--election",
            type=click.Choice(["none", "round-robin", "stake"]),
            default="none",
            show_default=True,
            help="Perform only when this operator is elected for the block.",
        ),
        click.option(
            "--round-robin-period", type=int, default=1, show_default=True, help="Blocks per round-robin turn."
        ),
        click.option("--every-seconds", type=float, default=None, help="Trigger: every N seconds."),
        click.option("--every-blocks", type=int, default=None, help="Trigger: every N blocks."),
        click.option("--on-event", default=None, help="Trigger: on a contract event, ADDRESS:Event(type,...)."),
        click.option("--on-message", is_flag=True, help="Trigger: on custom messages from the aggregator."),
        click.option(
            "--confirmations" if standalone else "--performer-confirmations",
            "confirmations",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="Blocks on top of a block before --every-blocks and --on-event act on it "
            "(0 on a devnet; more on real chains, where blocks can be reorganised away).",
        ),
        click.option(
            "--params", "params_json", default="{}", help="JSON object of parameters for the Execution Service."
        ),
        click.option(
            "--performer-port",
            type=int,
            default=0,
            show_default=True,
            help="Port of the performer's API (POST /performer/v1/trigger; 0: any free port).",
        ),
        click.option(
            "--trusted-client" if standalone else "--performer-trusted-client",
            "performer_trusted_clients",
            multiple=True,
            metavar="ADDRESS|NETWORK",
            callback=lambda _ctx, _param, values: _networks(values),
            help="A client IP address or network (CIDR) that may trigger the performer's tasks and send it "
            "unsigned custom messages; anyone else's messages must be signed by an active operator. "
            "Repeatable [default: loopback only].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _performer_config(
    chain,
    key,
    definition,
    execution_service,
    aggregator,
    election,
    round_robin_period,
    every_seconds,
    every_blocks,
    on_event,
    on_message,
    params_json,
    performer_port,
    host,
    name,
    confirmations=0,
    bls=None,
    trusted_clients=(),
    outbox=None,
    task_deadline=600.0,
):
    from othentic_offchain.nodes.common.ratelimit import LOOPBACK
    from othentic_offchain.nodes.performer import EventTrigger, PerformerConfig

    if not execution_service:
        raise click.UsageError("a performer needs --execution-service URL")
    try:
        params = json.loads(params_json)
        assert isinstance(params, dict)
    except (ValueError, AssertionError) as exc:
        raise click.BadParameter("must be a JSON object", param_hint="--params") from exc
    event = None
    if on_event:
        address, _, signature = on_event.partition(":")
        if not signature:
            raise click.BadParameter("expected ADDRESS:Event(type,...)", param_hint="--on-event")
        event = EventTrigger.from_signature(address, signature)
    return PerformerConfig(
        rpc_url=chain.rpc_url,
        deployment=chain.record,
        ecdsa_key=key,
        execution_url=execution_service,
        aggregator_url=aggregator,
        task_definition_id=definition,
        election=election,
        host=host,
        port=performer_port,
        name=name,
        params=params,
        every_seconds=every_seconds,
        every_blocks=every_blocks,
        event=event,
        on_message=on_message,
        round_robin_period=round_robin_period,
        bls=bls,
        trusted_clients=tuple(trusted_clients) or LOOPBACK,
        confirmations=confirmations,
        outbox_path=outbox,
        task_deadline=task_deadline,
    )


def _addresses(values: tuple[str, ...]) -> tuple[str, ...]:
    """Checksummed addresses, or a ``BadParameter`` naming the bad one."""
    from eth_utils import is_address, to_checksum_address

    for value in values:
        if not is_address(value):
            raise click.BadParameter(f"{value!r} is not an address (0x and 40 hex digits)")
    return tuple(to_checksum_address(value) for value in values)


def _aggregators(values: tuple[str, ...]) -> tuple[str, ...]:
    """Aggregator URLs, in order, from repeated and comma-separated values; or a ``BadParameter``."""
    from othentic_offchain.nodes.performer.config import aggregator_urls

    try:
        return aggregator_urls(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _networks(values: tuple[str, ...]) -> tuple[str, ...]:
    """IP addresses or networks (CIDR), or a ``BadParameter`` naming the bad one."""
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
    return values


def _finality(value: str) -> int | str:
    """``--finality``: a number of blocks or ``finalized``; or a ``BadParameter``."""
    from othentic_offchain.nodes.aggregator.finality import parse_finality

    try:
        return parse_finality(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@node_group.command("attester")
@chain_options
@key_options
@_bls_options
@click.option(
    "--avs-webapi",
    "--validation-service",
    "validation_service",
    envvar="OTHENTIC_VALIDATION_SERVICE",
    required=True,
    help="The AVS's Validation Service URL (Othentic: --avs-webapi).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port", type=int, default=9000, show_default=True, help="Port of the attester's API (0: any free port)."
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="SQLite file of the votes this attester signed "
    "[default $XDG_DATA_HOME/othentic/attester-<chain id>-<operator address>.sqlite3, "
    "XDG_DATA_HOME defaulting to ~/.local/share].",
)
@click.option(
    "--service-timeout",
    type=float,
    default=SERVICE_TIMEOUT,
    show_default=True,
    help="Seconds to wait for the Validation Service (shorter than the aggregators' --vote-timeout).",
)
@click.option(
    "--publish-endpoint",
    default=None,
    help="Publish this URL on-chain as the attester's endpoint at start (costs a transaction if it changed).",
)
@click.option(
    "--trusted-aggregator",
    "trusted_aggregators",
    multiple=True,
    metavar="ADDRESS",
    callback=lambda _ctx, _param, values: _addresses(values),
    help="Answer only vote requests and messages signed by this operator address. Repeatable "
    "[default: any active operator].",
)
@click.option(
    "--allow-performer-as-aggregator",
    is_flag=True,
    default=False,
    help="Answer a vote request signed by the task's own performer (off: a performer asking first "
    "would fix this attester's side before the real aggregator asks).",
)
@functools.partial(_performer_options, standalone=False)
@_log_option
def attester(
    rpc,
    deployment,
    attestation_center,
    private_key,
    keystore,
    password_file,
    bls_key_file,
    bls_password_file,
    validation_service,
    host,
    port,
    db_path,
    service_timeout,
    publish_endpoint,
    trusted_aggregators,
    allow_performer_as_aggregator,
    definition,
    execution_service,
    aggregator,
    election,
    round_robin_period,
    every_seconds,
    every_blocks,
    on_event,
    on_message,
    confirmations,
    params_json,
    performer_port,
    performer_trusted_clients,
    outbox,
    task_deadline,
    log_level,
):
    """Vote on tasks: validate each with the AVS's Validation Service, BLS-sign the vote, record it.

    Never signs the other side of a task it voted on, also after a restart (the --db file).
    With --performer-definition, the same process also performs that definition's tasks, and
    passes the Execution Service its BLS signature over each task's round (roundSignature).
    """
    from othentic_offchain.nodes.attester.node import AttesterConfig, AttesterNode

    configure_logging(log_level)
    chain = connect(rpc, deployment, attestation_center)
    key = load_key(private_key, keystore, password_file)
    keys = load_bls(bls_key_file, bls_password_file, key, chain.record.chain_id)
    operator_id = chain.avs.operator_id(chain.sender(key).address)
    if operator_id == 0:
        raise click.ClickException("this account is not a registered operator: `othentic operator register` first")
    if publish_endpoint and chain.avs.operator(operator_id).endpoint != publish_endpoint:
        chain.sender(key).send(chain.avs.center.functions.setOperatorEndpoint(publish_endpoint))
    config = AttesterConfig(
        rpc_url=chain.rpc_url,
        deployment=chain.record,
        ecdsa_key=key,
        bls=keys,
        validation_url=validation_service,
        host=host,
        port=port,
        db_path=db_path,  # None: a fixed file per chain and operator (AttesterConfig.votes_path)
        service_timeout=service_timeout,
        name=f"attester-{operator_id}",
        aggregators=trusted_aggregators,
        allow_performer_as_aggregator=allow_performer_as_aggregator,
    )
    performer_config = None
    if definition is not None:
        performer_config = _performer_config(
            chain,
            key,
            definition,
            execution_service,
            aggregator,
            election,
            round_robin_period,
            every_seconds,
            every_blocks,
            on_event,
            on_message,
            params_json,
            performer_port,
            host,
            f"performer-{operator_id}",
            bls=keys,  # the performer signs its rounds with the operator's registered key
            trusted_clients=performer_trusted_clients,
            confirmations=confirmations,
            outbox=outbox,
            task_deadline=task_deadline,
        )

    click.echo(f"attester {operator_id} records its votes in {config.votes_path}")
    if performer_config is not None:
        click.echo(f"performer {operator_id} keeps its signed tasks in {performer_config.outbox_file}")

    async def main():
        from othentic_offchain.nodes.performer.node import PerformerNode

        node = AttesterNode(config)
        performer = PerformerNode(performer_config) if performer_config else None
        url = await node.start()
        try:
            if performer is not None:
                performer_url = await performer.start()
                ready_line(f"performer {operator_id} (definition {performer.config.task_definition_id})", performer_url)
            ready_line(f"attester {operator_id}", url)
            await asyncio.Event().wait()
        finally:
            if performer is not None:
                await performer.stop()
            await node.stop()

    run_until_stopped(main())


@node_group.command("performer")
@chain_options
@key_options
@click.option("--host", default="127.0.0.1", show_default=True)
@functools.partial(_performer_options, standalone=True)
@_log_option
def performer(
    rpc,
    deployment,
    attestation_center,
    private_key,
    keystore,
    password_file,
    host,
    definition,
    execution_service,
    aggregator,
    election,
    round_robin_period,
    every_seconds,
    every_blocks,
    on_event,
    on_message,
    confirmations,
    params_json,
    performer_port,
    performer_trusted_clients,
    outbox,
    task_deadline,
    log_level,
):
    """Perform tasks: on each trigger (when elected), run the Execution Service, sign, send to the aggregator.

    Triggers: on demand (POST /performer/v1/trigger {"params": {...}}), --every-seconds,
    --every-blocks, --on-event, --on-message. Elections: --election round-robin | stake.
    Every signed task is kept in the --outbox file before it is sent, and retried (over every
    --aggregator, in order) until an aggregator takes it, refuses it for good, or --task-deadline.
    """
    from othentic_offchain.nodes.performer.node import PerformerNode

    configure_logging(log_level)
    chain = connect(rpc, deployment, attestation_center)
    key = load_key(private_key, keystore, password_file)
    config = _performer_config(
        chain,
        key,
        definition,
        execution_service,
        aggregator,
        election,
        round_robin_period,
        every_seconds,
        every_blocks,
        on_event,
        on_message,
        params_json,
        performer_port,
        host,
        "performer",
        trusted_clients=performer_trusted_clients,
        confirmations=confirmations,
        outbox=outbox,
        task_deadline=task_deadline,
    )

    click.echo(f"performer keeps its signed tasks in {config.outbox_file}")

    async def main():
        node = PerformerNode(config)
        url = await node.start()
        try:
            ready_line(f"performer (definition {definition})", url)
            await asyncio.Event().wait()
        finally:
            await node.stop()

    run_until_stopped(main())


@node_group.command("aggregator")
@chain_options
@key_options
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    "--json-rpc-port",
    "port",
    type=int,
    default=8545,
    show_default=True,
    help="Port of the JSON-RPC API (Othentic's default 8545; 0: any free port).",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="SQLite file of accepted tasks and votes: a restart resumes every task in flight "
    "[default $XDG_DATA_HOME/othentic/aggregator-<chain id>-<address>.sqlite3, "
    "XDG_DATA_HOME defaulting to ~/.local/share].",
)
@click.option(
    "--attester",
    "attesters",
    multiple=True,
    metavar="ID=URL",
    help="Where an attester listens (operator id or address = URL); overrides its on-chain endpoint. Repeatable.",
)
@click.option(
    "--delay",
    "delay_ms",
    type=float,
    default=0,
    show_default=True,
    help="Milliseconds to wait for more votes once a side reached its threshold (Othentic's --delay).",
)
@click.option(
    "--vote-timeout",
    type=float,
    default=VOTE_TIMEOUT,
    show_default=True,
    help="Seconds per attester request (longer than the attesters' --service-timeout).",
)
@click.option(
    "--task-timeout",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds a task may collect votes before it fails with no_quorum.",
)
@click.option(
    "--max-fee-per-gas",
    "max_fee_gwei",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Ceiling on what a submission offers per gas, in gwei (maxFeePerGas, or gasPrice on a chain "
    "without EIP-1559). While the chain asks more, submissions wait and taskStatus says why "
    "(fee_ceiling) [default: no ceiling].",
)
@click.option(
    "--replace-after-blocks",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Blocks a submission may stay unmined before it is sent again (if the node lost it) or "
    "replaced on its nonce with fees 13 % higher.",
)
@click.option(
    "--replace-after-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="The same, in seconds (whichever comes first: a chain that mines on demand makes no "
    "blocks while the aggregator's nonce is the missing one).",
)
@click.option(
    "--stuck-after-rounds",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Rounds (of --replace-after-*) a submission may stay unmined with nothing replaced before "
    "the task is reported stuck (taskStatus.error, the stuck metric); it stays submitting.",
)
@click.option(
    "--finality",
    default="0",
    show_default=True,
    metavar="BLOCKS|finalized",
    callback=lambda _ctx, _param, value: _finality(value),
    help="When a landed task is final: after BLOCKS blocks on top of its landing block (0: at once), or "
    "'finalized' (the chain's finalized block). Until then it is re-checked; a reorganisation that removes "
    "it sends it back to be landed again. Use a few blocks (or 'finalized') on a real chain.",
)
@click.option(
    "--trusted-client",
    "trusted_clients",
    multiple=True,
    metavar="ADDRESS|NETWORK",
    callback=lambda _ctx, _param, values: _networks(values),
    help="A client IP address or network (CIDR) that may call sendCustomMessage unsigned; "
    "anyone else signs it as an active operator. Repeatable [default: loopback only].",
)
@_log_option
def aggregator(
    rpc,
    deployment,
    attestation_center,
    private_key,
    keystore,
    password_file,
    host,
    port,
    db_path,
    attesters,
    delay_ms,
    vote_timeout,
    task_timeout,
    max_fee_gwei,
    replace_after_blocks,
    replace_after_seconds,
    stuck_after_rounds,
    finality,
    trusted_clients,
    log_level,
):
    """Collect attesters' votes on each task and submit the aggregate on-chain.

    JSON-RPC 2.0 (POST /): sendTask (Othentic's positional params), sendCustomMessage, taskStatus,
    health. The account must be an active operator (the contract checks the aggregator).
    """
    from othentic_offchain.nodes.aggregator import AggregatorConfig, AggregatorNode
    from othentic_offchain.nodes.aggregator.discovery import parse_attester_specs

    configure_logging(log_level)
    chain = connect(rpc, deployment, attestation_center)
    key = load_key(private_key, keystore, password_file)
    try:
        static = parse_attester_specs(attesters)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--attester") from exc
    config = AggregatorConfig(
        rpc_url=chain.rpc_url,
        deployment=chain.record,
        ecdsa_key=key,
        host=host,
        port=port,
        db_path=db_path,  # None: a fixed file per chain and account (AggregatorConfig.store_path)
        attesters=static,
        delay=delay_ms / 1000,
        vote_timeout=vote_timeout,
        task_timeout=task_timeout,
        max_fee_per_gas=None if max_fee_gwei is None else int(max_fee_gwei * 10**9),
        replace_after_blocks=replace_after_blocks,
        replace_after_seconds=replace_after_seconds,
        stuck_after_rounds=stuck_after_rounds,
        finality=finality,
    )
    if trusted_clients:
        config.trusted_clients = trusted_clients

    click.echo(f"aggregator records its tasks in {config.store_path}")

    async def main():
        node = AggregatorNode(config)
        url = await node.start()
        try:
            ready_line("aggregator", url)
            await asyncio.Event().wait()
        finally:
            await node.stop()

    run_until_stopped(main())
