"""``othentic rewards ...``: fund the vault, claim, and show what accounts can claim."""

from __future__ import annotations

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
from othentic_offchain.devnet.tokens import mintable


@click.group(name="rewards")
def rewards_group() -> None:
    """Fund the rewards vault (Othentic: `network rewards deposit`), claim and inspect rewards."""


@rewards_group.command("fund")
@chain_options
@key_options
@click.option("--amount", "amount_text", required=True, help="Tokens to put in the vault.")
@click.option("--mint", is_flag=True, help="Devnets only: mint the reward tokens first.")
@transactions
def fund(rpc, deployment, attestation_center, private_key, keystore, password_file, amount_text, mint):
    """Put reward tokens into the vault; anyone may."""
    chain = connect(rpc, deployment, attestation_center)
    sender = chain.sender(load_key(private_key, keystore, password_file))
    amount = parse_amount(amount_text)
    if mint:
        sender.send(mintable(chain.avs.reward_token).functions.mint(sender.address, amount))
    chain.avs.fund_rewards(sender, amount)
    balance = chain.avs.vault.functions.balance().call()
    console().print(f"Funded {tokens(amount)}; the vault holds {tokens(balance)}.")


@rewards_group.command("claim")
@chain_options
@key_options
@click.option("--amount", "amount_text", default=None, help="Tokens to claim (default: everything claimable).")
@click.option("--to", default=None, help="Where to pay (default: the account).")
@transactions
def claim(rpc, deployment, attestation_center, private_key, keystore, password_file, amount_text, to):
    """Claim accrued rewards. If the vault holds too little, nothing is lost: fund it and claim again."""
    chain = connect(rpc, deployment, attestation_center)
    sender = chain.sender(load_key(private_key, keystore, password_file))
    claimable = chain.avs.claimable(sender.address)
    amount = parse_amount(amount_text) if amount_text else claimable
    if amount == 0:
        raise click.ClickException(f"{sender.address} has nothing to claim")
    sender.send(chain.avs.center.functions.claimRewards(to or sender.address, amount))
    console().print(f"Claimed {tokens(amount)} to {to or sender.address}; {tokens(claimable - amount)} left.")


@rewards_group.command("show")
@chain_options
@json_option
@click.option("--address", "addresses", multiple=True, help="Accounts to show (default: every operator).")
def show(rpc, deployment, attestation_center, as_json, addresses):
    """Claimable and claimed rewards per account, and the vault's balance."""
    chain = connect(rpc, deployment, attestation_center)
    center = chain.avs.center.functions
    if not addresses:
        registered, _ = center.operatorCount().call()
        addresses = sorted({chain.avs.operator(i).account for i in range(1, registered + 1)})
    rows = [
        [
            a,
            center.operatorIdOf(a).call() or "-",
            tokens(chain.avs.claimable(a)),
            tokens(center.claimedRewards(a).call()),
        ]
        for a in addresses
    ]
    print_table("Rewards", ["account", "operator", "claimable", "claimed"], rows, as_json)
    if not as_json:
        console().print(f"Vault balance: {tokens(chain.avs.vault.functions.balance().call())}")
