"""``othentic operator ...``: register, stake, withdraw, leave, publish an endpoint, inspect."""

from __future__ import annotations

import logging
import os

import click

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
from othentic_offchain.crypto.keys import KeyLoadError, load_bls_key
from othentic_offchain.devnet.tokens import mintable


@click.group(name="operator")
def operator_group() -> None:
    """Register as an operator and manage stake, keys and the published endpoint."""


#: Chains where an operator may sign with a BLS key derived from its account key: local devnets.
DEV_CHAIN_IDS = (31337, 1337)

log = logging.getLogger("othentic.keys")


def _remember_allow_derived(ctx: click.Context, _param, value: bool) -> bool:
    ctx.meta["allow_derived_bls_key"] = value
    return value


def _bls_options(func):
    func = click.option(
        "--allow-derived-bls-key",
        is_flag=True,
        expose_value=False,
        callback=_remember_allow_derived,
        help="Accept a BLS key derived from the account key on a chain other than a local devnet "
        f"(chain ids {', '.join(map(str, DEV_CHAIN_IDS))}): whoever has the account key also has the BLS key.",
    )(func)
    func = click.option(
        "--bls-password-file",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="Password of the BLS key file [or env KEYSTORE_PASSWORD].",
    )(func)
    func = click.option(
        "--bls-key-file",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="Encrypted BLS key file (`othentic keys generate`). Default: $BLS_PRIVATE_KEY, "
        "else (devnets only) a key derived from the account key.",
    )(func)
    return func


def load_bls(bls_key_file, bls_password_file, ecdsa_key, chain_id: int, *, allow_derived: bool | None = None):
    """The operator's BLS key pair. A key derived from the account key (no key file, no
    $BLS_PRIVATE_KEY) is for devnets only: refused on any other chain unless allowed
    (``--allow-derived-bls-key``), and warned about everywhere."""
    derived = bls_key_file is None and not os.environ.get("BLS_PRIVATE_KEY")
    if derived:
        if allow_derived is None:
            context = click.get_current_context(silent=True)
            allow_derived = bool(context and context.meta.get("allow_derived_bls_key"))
        if chain_id not in DEV_CHAIN_IDS and not allow_derived:
            raise click.ClickException(
                f"no BLS key given (--bls-key-file or $BLS_PRIVATE_KEY) and chain {chain_id} is not a local "
                "devnet: a BLS key derived from the account key is for devnets only "
                "(`othentic keys generate --bls-only`; or --allow-derived-bls-key to accept it anyway)"
            )
        log.warning(
            "DEVNETS ONLY: the BLS key is derived from the account key (no --bls-key-file or $BLS_PRIVATE_KEY); "
            "whoever has the account key can sign votes as this operator"
        )
    try:
        return load_bls_key(key_file=bls_key_file, password_file=bls_password_file, ecdsa_key=ecdsa_key)
    except KeyLoadError as exc:
        raise click.ClickException(str(exc)) from exc


@operator_group.command("register")
@chain_options
@key_options
@_bls_options
@click.option("--stake", "stake_text", required=True, help="Stake to put up, in tokens (e.g. 10 or 1000wei).")
@click.option("--endpoint", default=None, help="URL of your attester node, published on-chain for aggregators.")
@click.option("--mint", is_flag=True, help="Devnets only: mint the stake first (the test token lets anyone mint).")
@transactions
def register(
    rpc,
    deployment,
    attestation_center,
    private_key,
    keystore,
    password_file,
    bls_key_file,
    bls_password_file,
    stake_text,
    endpoint,
    mint,
):
    """Register the account as an operator with a stake and a BLS key.

    Approves the stake to the attestation center, proves possession of the BLS key (a signature over
    your address, the center and the chain id) and registers. Prints the operator id.
    """
    chain = connect(rpc, deployment, attestation_center)
    key = load_key(private_key, keystore, password_file)
    keys = load_bls(bls_key_file, bls_password_file, key, chain.record.chain_id)
    sender = chain.sender(key)
    stake = parse_amount(stake_text)
    if mint:
        sender.send(mintable(chain.avs.stake_token).functions.mint(sender.address, stake))
    chain.avs.register_operator(sender, keys, stake)
    operator_id = chain.avs.operator_id(sender.address)
    if endpoint:
        sender.send(chain.avs.center.functions.setOperatorEndpoint(endpoint))
    console().print(f"Registered {sender.address} as operator {operator_id} with {tokens(stake)} staked.")


@operator_group.command("stake")
@chain_options
@key_options
@click.option("--amount", "amount_text", required=True, help="Tokens to add to the stake.")
@click.option("--mint", is_flag=True, help="Devnets only: mint the amount first.")
@transactions
def stake(rpc, deployment, attestation_center, private_key, keystore, password_file, amount_text, mint):
    """Add to the operator's stake (and voting power)."""
    chain = connect(rpc, deployment, attestation_center)
    sender = chain.sender(load_key(private_key, keystore, password_file))
    amount = parse_amount(amount_text)
    if mint:
        sender.send(mintable(chain.avs.stake_token).functions.mint(sender.address, amount))
    sender.send(chain.avs.stake_token.functions.approve(chain.avs.address, amount))
    sender.send(chain.avs.center.functions.increaseStake(amount))
    op = chain.avs.operator(chain.avs.operator_id(sender.address))
    console().print(f"Operator {op.id} now stakes {tokens(op.stake)}.")


@operator_group.command("withdraw")
@chain_options
@key_options
@click.option("--amount", "amount_text", default=None, help="Request a withdrawal of this many tokens.")
@click.option("--complete", is_flag=True, help="Pay out the unlocked withdrawal instead.")
@click.option("--to", default=None, help="Where --complete pays (default: the account).")
@transactions
def withdraw(rpc, deployment, attestation_center, private_key, keystore, password_file, amount_text, complete, to):
    """Request a withdrawal (it unbonds for the configured delay), or complete an unlocked one.

    A withdrawal must leave at least the minimum stake; to take everything out, `operator leave`.
    """
    if bool(amount_text) == complete:
        raise click.UsageError("give either --amount (request) or --complete (pay out)")
    chain = connect(rpc, deployment, attestation_center)
    sender = chain.sender(load_key(private_key, keystore, password_file))
    center = chain.avs.center.functions
    if complete:
        amount, _unlock = center.pendingWithdrawal(sender.address).call()
        sender.send(center.withdraw(to or sender.address))
        console().print(f"Withdrew {tokens(amount)} to {to or sender.address}.")
        return
    amount = parse_amount(amount_text)
    sender.send(center.requestWithdrawal(amount))
    pending, unlock = center.pendingWithdrawal(sender.address).call()
    console().print(f"Requested {tokens(amount)}; {tokens(pending)} unlock at block {unlock}.")


@operator_group.command("leave")
@chain_options
@key_options
@transactions
def leave(rpc, deployment, attestation_center, private_key, keystore, password_file):
    """Deregister for good (Othentic: `operator unregister`); the whole stake starts unbonding.

    Rewards earned stay claimable. Registering again later gives a new operator id.
    """
    chain = connect(rpc, deployment, attestation_center)
    sender = chain.sender(load_key(private_key, keystore, password_file))
    operator_id = chain.avs.operator_id(sender.address)
    sender.send(chain.avs.center.functions.leave())
    _amount, unlock = chain.avs.center.functions.pendingWithdrawal(sender.address).call()
    console().print(
        f"Operator {operator_id} left; its stake unlocks at block {unlock} (`operator withdraw --complete`)."
    )


operator_group.add_command(leave, "unregister")


@operator_group.command("endpoint")
@chain_options
@key_options
@click.argument("url")
@transactions
def endpoint(rpc, deployment, attestation_center, private_key, keystore, password_file, url):
    """Publish URL as where this operator's attester node listens."""
    chain = connect(rpc, deployment, attestation_center)
    sender = chain.sender(load_key(private_key, keystore, password_file))
    sender.send(chain.avs.center.functions.setOperatorEndpoint(url))
    console().print(f"Published {url}.")


@operator_group.command("list")
@chain_options
@json_option
@click.option("--all", "show_all", is_flag=True, help="Include operators that left or were ejected.")
def list_operators(rpc, deployment, attestation_center, as_json, show_all):
    """Operators with their stake, status and endpoint."""
    chain = connect(rpc, deployment, attestation_center)
    registered, _active = chain.avs.center.functions.operatorCount().call()
    rows = []
    for operator_id in range(1, registered + 1):
        op = chain.avs.operator(operator_id)
        if op.active or show_all:
            rows.append(
                [
                    op.id,
                    op.account,
                    "active" if op.active else "exited",
                    tokens(op.stake),
                    op.endpoint or "-",
                    tokens(chain.avs.claimable(op.account)),
                ]
            )
    print_table("Operators", ["id", "account", "status", "stake", "endpoint", "claimable"], rows, as_json)


@operator_group.command("rotate-bls-key")
@chain_options
@key_options
@click.option(
    "--new-bls-key-file",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="The new BLS key file (`othentic keys generate --bls-only`).",
)
@click.option(
    "--bls-password-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Password of the new BLS key file [or env KEYSTORE_PASSWORD].",
)
@transactions
def rotate_bls_key(
    rpc, deployment, attestation_center, private_key, keystore, password_file, new_bls_key_file, bls_password_file
):
    """Replace the operator's BLS key (with a new proof of possession).

    Restart the attester with the new key right after: votes signed with the old key stop counting
    at once. The old key stays on record as yours for what it signed while it was current.
    """
    chain = connect(rpc, deployment, attestation_center)
    key = load_key(private_key, keystore, password_file)
    keys = load_bls(new_bls_key_file, bls_password_file, key, chain.record.chain_id)
    sender = chain.sender(key)
    proof = keys.proof_of_possession(sender.address, chain.avs.address, chain.avs.chain_id)
    sender.send(
        chain.avs.center.functions.updateBlsKey(keys.public.g1.words(), keys.public.g2.solidity(), proof.words())
    )
    console().print(f"Operator {chain.avs.operator_id(sender.address)} now signs with the new BLS key.")
