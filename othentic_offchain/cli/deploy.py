"""``othentic deploy``: the whole AVS network from the contracts shipped in this package.

The same plan as ``ape run deploy`` (:func:`othentic_offchain.chain.deploy.deploy_system`), carried
out with web3.py and one key, so it works wherever the package is installed: no checkout, no
compiler, no Ape.
"""

from __future__ import annotations

import click

from othentic_offchain.chain.deploy import (
    DEFAULT_DEFINITION_0,
    DEFAULT_REGISTRY,
    Web3Backend,
    default_deployment_path,
    deploy_to_file,
)
from othentic_offchain.chain.types import RegistryConfig
from othentic_offchain.cli.common import console, key_options, load_key, transactions

#: Chains where deploying mintable test tokens is the expected thing (anvil, hardhat, ganache).
DEV_CHAIN_IDS = (31337, 1337)


@click.command("deploy")
@click.option("--rpc", envvar=["L2_RPC", "RPC_URL"], required=True, help="JSON-RPC URL of the chain [env L2_RPC].")
@key_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Deployment file to write [default: $OTHENTIC_DEPLOYMENT or deployments/<chain id>.json].",
)
@click.option("--redeploy", is_flag=True, help="Deploy again even if the file records a live deployment.")
@click.option("--admin", default=None, help="AVS owner (DEFAULT_ADMIN_ROLE, treasury). Default: the deployer.")
@click.option("--stake-token", default=None, help="Existing ERC-20 to stake. Default on dev chains: a test token.")
@click.option("--reward-token", default=None, help="Existing ERC-20 for rewards. Default on dev chains: a test token.")
@click.option(
    "--test-tokens",
    is_flag=True,
    help="Deploy mintable test tokens on a chain that is not a local dev chain (testnets only).",
)
@click.option("--minimum-stake", type=int, default=DEFAULT_REGISTRY.minimum_stake, show_default=True)
@click.option("--max-operators", type=int, default=DEFAULT_REGISTRY.max_operators, show_default=True)
@click.option(
    "--unbonding-delay",
    type=int,
    default=DEFAULT_REGISTRY.unbonding_delay_blocks,
    show_default=True,
    help="Blocks a withdrawal waits (must exceed every definition's dispute period).",
)
@transactions
def deploy(
    rpc,
    private_key,
    keystore,
    password_file,
    out,
    redeploy,
    admin,
    stake_token,
    reward_token,
    test_tokens,
    minimum_stake,
    max_operators,
    unbonding_delay,
):
    """Deploy and wire the contracts: tokens, vault, registry and definitions modules, the
    attestation center (with task definition 0) and the penalty manager; write a deployment file.

    A second run against a chain that already has the recorded deployment stops and says so;
    --redeploy replaces it.
    """
    from web3 import Web3

    key = load_key(private_key, keystore, password_file)
    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 60}))
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:
        raise click.ClickException(f"cannot reach the chain at {rpc}: {exc}") from exc
    needs_tokens = stake_token is None or reward_token is None
    if needs_tokens and chain_id not in DEV_CHAIN_IDS and not test_tokens:
        raise click.UsageError(
            f"chain {chain_id} is not a local dev chain: give --stake-token and --reward-token (ERC-20 addresses), "
            "or --test-tokens to deploy mintable test tokens"
        )
    backend = Web3Backend(w3, key)
    path = default_deployment_path(chain_id) if out is None else out
    _record, _deployed, report = deploy_to_file(
        backend,
        path,
        redeploy=redeploy,
        rpc_url=rpc,
        admin=admin,
        stake_token=stake_token,
        reward_token=reward_token,
        registry=RegistryConfig(minimum_stake, max_operators, unbonding_delay),
        definition0=DEFAULT_DEFINITION_0,
    )
    console().print(report)
