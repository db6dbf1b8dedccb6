"""The example AVSs as ``othentic devnet`` deploys them: their hooks and their task definitions.

Definition 1 is the price oracle (``othentic_offchain/examples/price_oracle``), definition 2 the
randomness beacon; 0 is the generic definition every deployment has (the ids are those the
devnet's services serve, ``othentic_offchain/examples/devnet.py``). Their on-chain hooks sit
behind an ``AvsLogicRouter`` that the AttestationCenter calls for every task.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from othentic_offchain.chain.artifacts import load_artifact
from othentic_offchain.chain.deploy import TOKEN, Web3Backend
from othentic_offchain.chain.types import PenaltyConfig, TaskDefinitionParams
from othentic_offchain.devnet.network import LocalNetwork
from othentic_offchain.examples.devnet import BEACON, GENERIC, PRICE_ORACLE

DEFINITION_NAMES = {GENERIC: "generic", PRICE_ORACLE: "price-oracle", BEACON: "randomness-beacon"}

PRICE_ORACLE_DEFINITION = TaskDefinitionParams(
    name="price-oracle",
    attester_reward=TOKEN // 20,
    performer_reward=TOKEN // 5,
    aggregator_reward=TOKEN // 20,
    dispute_period_blocks=50,
    penalties=PenaltyConfig(
        double_attestation=True,
        incorrect_attestation=False,
        rejected_task=True,
        slash_bps=500,
        reporter_bps=2_000,
    ),
)
BEACON_DEFINITION = TaskDefinitionParams(
    name="randomness-beacon",
    attester_reward=TOKEN // 50,
    performer_reward=TOKEN // 10,
    aggregator_reward=TOKEN // 50,
    dispute_period_blocks=50,
)


def deploy_examples(net: LocalNetwork) -> None:
    """Deploy the router and the two hooks, point the AttestationCenter at the router, create
    definition 1, and add the three contracts to the deployment file (definition 2 comes once the
    operators are known: :func:`create_beacon_definition`)."""
    assert net.record is not None and net.avs is not None and net.admin is not None
    backend = Web3Backend(net.w3, net.admin_key)
    router = backend.deploy("AvsLogicRouter", net.record.attestation_center, backend.deployer)
    price = backend.deploy("PriceOracleLogic", router)
    beacon = backend.deploy("RandomnessBeaconLogic", router)
    backend.transact("AvsLogicRouter", router, "setLogic", PRICE_ORACLE, price)
    backend.transact("AvsLogicRouter", router, "setLogic", BEACON, beacon)
    net.admin.send(net.avs.center.functions.setAvsLogic(router))
    net.record.contracts.update({"AvsLogicRouter": router, "PriceOracleLogic": price, "RandomnessBeaconLogic": beacon})
    net.save_deployment()
    assert net.avs.create_definition(net.admin, PRICE_ORACLE_DEFINITION) == PRICE_ORACLE


def create_beacon_definition(net: LocalNetwork, members: Iterable[int]) -> None:
    """Definition 2, the beacon, restricted to ``members``: its round robin elects performers among
    them. The devnet leaves the aggregator's operator out: attesters refuse to vote on a task whose
    performer is the aggregator asking them (``aggregator_is_performer``), so its turns would
    never land."""
    assert net.avs is not None and net.admin is not None
    params = dataclasses.replace(BEACON_DEFINITION, restricted_attester_ids=tuple(sorted(members)))
    assert net.avs.create_definition(net.admin, params) == BEACON


def example_contract(net: LocalNetwork, name: str):
    """``PriceOracleLogic`` or ``RandomnessBeaconLogic`` of this network, as a web3 contract."""
    assert net.record is not None
    return load_artifact(name).contract(net.w3, net.record.contracts[name])
