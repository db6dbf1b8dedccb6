"""``ape run deploy``: deploy the whole AVS network to the selected Ape network.

    ape run deploy                                          # Ape's default network (a throwaway anvil)
    ape run deploy --network http://127.0.0.1:8545          # an anvil (or any node) already running
    ape run deploy --network ethereum:sepolia:alchemy --account me --stake-token 0x.. --reward-token 0x..

Deploys, in order: the stake and reward tokens (mintable test tokens unless addresses are given),
the rewards vault, the OperatorRegistry and TaskDefinitions modules, the AttestationCenter (which
creates task definition 0), the PenaltyManager; wires the vault to the center and gives the
penalty manager SLASHER_ROLE. Writes the addresses and the chain id to a deployment file
(``--out``, ``$OTHENTIC_DEPLOYMENT`` or ``deployments/<chain id>.json``) and prints them.

A second run against a chain that already has the recorded deployment stops and says so;
``--redeploy`` replaces it.
"""

from __future__ import annotations

import click
from ape import accounts, networks, project
from ape.cli import ConnectedProviderCommand, account_option

from othentic_offchain.chain.ape_backend import ApeBackend
from othentic_offchain.chain.deploy import (
    DEFAULT_DEFINITION_0,
    DEFAULT_REGISTRY,
    default_deployment_path,
    deploy_to_file,
)
from othentic_offchain.chain.types import RegistryConfig

DEV_CHAIN_IDS = (31337, 1337)


@click.command(cls=ConnectedProviderCommand, help=__doc__)
@account_option(prompt=False)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Deployment file to write (default: $OTHENTIC_DEPLOYMENT or deployments/<chain id>.json).",
)
@click.option("--redeploy", is_flag=True, help="Deploy again even if the file records a live deployment.")
@click.option("--admin", default=None, help="AVS owner (DEFAULT_ADMIN_ROLE, treasury). Default: the deployer.")
@click.option("--stake-token", default=None, help="Existing ERC-20 to stake. Default: deploy a test token.")
@click.option("--reward-token", default=None, help="Existing ERC-20 to pay rewards in. Default: deploy a test token.")
@click.option("--minimum-stake", type=int, default=DEFAULT_REGISTRY.minimum_stake, show_default=True)
@click.option("--max-operators", type=int, default=DEFAULT_REGISTRY.max_operators, show_default=True)
@click.option(
    "--unbonding-delay",
    type=int,
    default=DEFAULT_REGISTRY.unbonding_delay_blocks,
    show_default=True,
    help="Blocks a withdrawal waits (must be longer than every definition's dispute period).",
)
def cli(account, out, redeploy, admin, stake_token, reward_token, minimum_stake, max_operators, unbonding_delay):
    if account is None:
        # Local networks and dev chains (anvil's 31337) fund the test mnemonic's accounts.
        if not (networks.provider.network.is_local or networks.provider.chain_id in DEV_CHAIN_IDS):
            raise click.UsageError("choose the deployer with --account ALIAS (see `ape accounts list`)")
        account = accounts.test_accounts[0]  # local networks: the first funded test account
    backend = ApeBackend(project, account)
    path = default_deployment_path(backend.chain_id) if out is None else out
    rpc_url = getattr(networks.provider, "http_uri", None) or getattr(networks.provider, "uri", None)
    _record, _deployed, report = deploy_to_file(
        backend,
        path,
        redeploy=redeploy,
        rpc_url=rpc_url,
        admin=admin,
        stake_token=stake_token,
        reward_token=reward_token,
        registry=RegistryConfig(minimum_stake, max_operators, unbonding_delay),
        definition0=DEFAULT_DEFINITION_0,
    )
    click.echo(report)
