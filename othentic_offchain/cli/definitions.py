"""``othentic task-definition ...``: create, update, list and show task definitions (the AVS owner)."""

from __future__ import annotations

import dataclasses
import functools
import json

import click

from othentic_offchain.chain.types import PenaltyConfig, TaskDefinitionParams
from othentic_offchain.cli.common import (
    chain_options,
    connect,
    console,
    json_option,
    key_options,
    load_key,
    parse_amount,
    print_table,
    tokens,
    transactions,
)

PENALTIES = ("double", "incorrect", "rejected")


def _definition_options(func, *, defaults: bool):
    """The definition's fields as options; without defaults (update), only given ones change."""
    d = TaskDefinitionParams(name="")

    def opt(*decls, default=None, **kwargs):
        return click.option(*decls, default=default if defaults else None, **kwargs)

    for decorator in reversed(
        [
            opt("--name", help="Name, 1 to 64 bytes."),
            opt("--attester-reward", help="Reward per signing attester, in tokens.", default="0"),
            opt("--performer-reward", help="Reward of the performer of an approved task, in tokens.", default="0"),
            opt("--aggregator-reward", help="Reward of the aggregator, in tokens.", default="0"),
            opt(
                "--expiry-block",
                type=int,
                help="Last block at which tasks may land (0: never).",
                default=d.block_expiry,
            ),
            opt(
                "--dispute-period",
                type=int,
                help="Blocks after a task lands during which offences can be proven.",
                default=d.dispute_period_blocks,
            ),
            opt("--minimum-voting-power", help="Minimum stake of an attester, in tokens.", default="0"),
            opt("--restrict", help="Comma-separated operator ids allowed to attest ('' or omitted: everyone)."),
            opt("--max-attesters", type=int, help="Signers per task (0: no limit).", default=0),
            opt(
                "--penalize",
                help=f"Offences punished, comma-separated from {','.join(PENALTIES)} ('none' for none). "
                "WARNING: 'incorrect' and 'rejected' punish on the votes' verdict: a task decided by more than "
                "two thirds of the voting power slashes every signer of the losing side ('incorrect') and, "
                "when rejected, its performer ('rejected'), so operators holding two thirds can slash honest "
                "ones. 'rejected' also makes the center refuse performer signatures over the bare taskHash "
                "(Othentic-style performers).",
                default="double",
            ),
            opt("--slash-bps", type=int, help="Share of stake slashed per offence, basis points.", default=1000),
            opt(
                "--reporter-bps", type=int, help="Share of the slash paid to the reporter, basis points.", default=1000
            ),
        ]
    ):
        func = decorator(func)
    return func


def _params(base: TaskDefinitionParams | None, options: dict) -> TaskDefinitionParams:
    values = dataclasses.asdict(base) if base else {}
    values["penalties"] = base.penalties if base else PenaltyConfig()
    if options["name"] is not None:
        values["name"] = options["name"]
    for option, field in (
        ("attester_reward", "attester_reward"),
        ("performer_reward", "performer_reward"),
        ("aggregator_reward", "aggregator_reward"),
        ("minimum_voting_power", "minimum_voting_power"),
    ):
        if options[option] is not None:
            values[field] = parse_amount(options[option])
    for option, field in (
        ("expiry_block", "block_expiry"),
        ("dispute_period", "dispute_period_blocks"),
        ("max_attesters", "maximum_number_of_attesters"),
    ):
        if options[option] is not None:
            values[field] = options[option]
    if options["restrict"] is not None:
        try:
            values["restricted_attester_ids"] = tuple(
                sorted({int(x) for x in options["restrict"].split(",") if x.strip()})
            )
        except ValueError as exc:
            raise click.BadParameter("operator ids must be integers, e.g. 1,2,5", param_hint="--restrict") from exc
    penalties = values["penalties"]
    if options["penalize"] is not None:
        chosen = set() if options["penalize"] in ("", "none") else {p.strip() for p in options["penalize"].split(",")}
        unknown = chosen - set(PENALTIES)
        if unknown:
            raise click.BadParameter(
                f"unknown offence(s) {sorted(unknown)}; choose from {PENALTIES}", param_hint="--penalize"
            )
        penalties = dataclasses.replace(
            penalties,
            double_attestation="double" in chosen,
            incorrect_attestation="incorrect" in chosen,
            rejected_task="rejected" in chosen,
        )
    if options["slash_bps"] is not None:
        penalties = dataclasses.replace(penalties, slash_bps=options["slash_bps"])
    if options["reporter_bps"] is not None:
        penalties = dataclasses.replace(penalties, reporter_bps=options["reporter_bps"])
    values["penalties"] = penalties
    values["restricted_attester_ids"] = tuple(values.get("restricted_attester_ids", ()))
    if not values.get("name"):
        raise click.UsageError("a task definition needs --name")
    return TaskDefinitionParams(**values)


@click.group(name="task-definition")
def definitions_group() -> None:
    """Create and change task definitions (the AVS owner's key), and list them."""


@definitions_group.command("create")
@chain_options
@key_options
@functools.partial(_definition_options, defaults=True)
@transactions
def create(rpc, deployment, attestation_center, private_key, keystore, password_file, **options):
    """Create a task definition; prints its id. Rewards in tokens, 15 significant digits at most.

    With a deployment file, its name and id are recorded there (`definitions`): `othentic services`,
    `othentic node ... --performer-definition NAME` and `othentic task send --definition NAME` given
    the file then find it by name."""
    chain = connect(rpc, deployment, attestation_center)
    sender = chain.sender(load_key(private_key, keystore, password_file))
    params = _params(None, options)
    definition_id = chain.avs.create_definition(sender, params)
    console().print(f"Created task definition {definition_id} ({params.name!r}).")
    if deployment:  # commands and services given this file then take the definition by its name
        from othentic_offchain.chain.deploy import DeploymentRecord

        record = DeploymentRecord.load(deployment)
        record.definitions[params.name] = definition_id
        record.save(deployment)
        console().print(f"Recorded {params.name!r} = {definition_id} in {deployment}.")


@definitions_group.command("update")
@chain_options
@key_options
@click.argument("definition_id", type=int)
@functools.partial(_definition_options, defaults=False)
@transactions
def update(rpc, deployment, attestation_center, private_key, keystore, password_file, definition_id, **options):
    """Change a task definition; options not given keep their current values."""
    chain = connect(rpc, deployment, attestation_center)
    sender = chain.sender(load_key(private_key, keystore, password_file))
    _set_id, current = chain.avs.definition(definition_id)
    params = _params(current, options)
    sender.send(chain.avs.center.functions.updateTaskDefinition(definition_id, params.abi()))
    console().print(f"Updated task definition {definition_id}.")


def _describe(definition_id: int, set_id: int, params: TaskDefinitionParams, members: dict) -> list:
    penalties = [
        name
        for name, on in zip(
            PENALTIES,
            (
                params.penalties.double_attestation,
                params.penalties.incorrect_attestation,
                params.penalties.rejected_task,
            ),
        )
        if on
    ]
    return [
        definition_id,
        params.name,
        set_id,
        len(members),
        tokens(sum(members.values())),
        tokens(params.attester_reward),
        tokens(params.performer_reward),
        tokens(params.aggregator_reward),
        params.block_expiry or "never",
        ",".join(map(str, params.restricted_attester_ids)) or "all",
        ",".join(penalties) or "none",
    ]


COLUMNS = [
    "id",
    "name",
    "set",
    "attesters",
    "voting power",
    "attester reward",
    "performer reward",
    "aggregator reward",
    "expiry",
    "restricted to",
    "penalties",
]


@definitions_group.command("list")
@chain_options
@json_option
def list_definitions(rpc, deployment, attestation_center, as_json):
    """Every task definition with its attesters and rewards."""
    chain = connect(rpc, deployment, attestation_center)
    count = chain.avs.center.functions.taskDefinitionCount().call()
    rows = []
    for definition_id in range(count):
        set_id, params = chain.avs.definition(definition_id)
        rows.append(_describe(definition_id, set_id, params, chain.avs.definition_members(definition_id)))
    print_table("Task definitions", COLUMNS, rows, as_json)


@definitions_group.command("show")
@chain_options
@json_option
@click.argument("definition_id", type=int)
@transactions
def show_definition(rpc, deployment, attestation_center, as_json, definition_id):
    """One task definition, with its current attesters."""
    chain = connect(rpc, deployment, attestation_center)
    set_id, params = chain.avs.definition(definition_id)
    members = chain.avs.definition_members(definition_id)
    row = _describe(definition_id, set_id, params, members)
    attesters = [[i, tokens(s)] for i, s in members.items()]
    if as_json:
        stakes = {i: tokens(s) for i, s in members.items()}
        click.echo(json.dumps({**dict(zip(COLUMNS, row)), "members": stakes}, default=str, indent=2))
        return
    print_table(f"Task definition {definition_id}", COLUMNS, [row], False)
    print_table("Attesters", ["operator", "stake"], attesters, False)
