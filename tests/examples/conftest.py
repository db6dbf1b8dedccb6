"""Fixtures for the example AVSs' tests (``examples/`` and ``contracts/examples/``).

The examples are imported as the devnet imports them (``othentic_offchain.examples.price_oracle.avs``).
Contract tests build their networks with ``deploy_network`` and ``Net`` from
``tests/contracts/network.py``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import ape
import pytest

from othentic_offchain.crypto import KeyPair
from tests.examples._examples_support import BEACON, PRICE_ORACLE, contract_fixtures


@ape.fixture(scope="session", chain_isolation=False)
def key_pool() -> list[KeyPair]:
    """Operator BLS keys from fixed seeds, made once per session (a G2 multiplication each)."""
    return [KeyPair.from_seed(b"othentic-py example test operator %03d" % i) for i in range(8)]


@dataclass
class Hooked:
    """A deployed network whose center calls an AvsLogicRouter that routes definition 1 to
    PriceOracleLogic and definition 2 to RandomnessBeaconLogic (the devnet's layout)."""

    net: Any
    router: Any
    price: Any
    beacon: Any


@pytest.fixture(scope="module")
def hooked(project, accounts, key_pool) -> Hooked:
    fixtures = contract_fixtures
    net = fixtures.deploy_network(project, accounts, key_pool)
    net.register_many([fixtures.MIN_STAKE] * 4)
    net.fund_rewards(1_000 * fixtures.TOKEN)
    for definition_id, name in ((PRICE_ORACLE, "price-oracle"), (BEACON, "randomness-beacon")):
        assert net.create_definition(dataclasses.replace(fixtures.DEFINITION_0, name=name)) == definition_id
    admin = net.admin
    router = project.AvsLogicRouter.deploy(net.center.address, admin.address, sender=admin)
    price = project.PriceOracleLogic.deploy(router.address, sender=admin)
    beacon = project.RandomnessBeaconLogic.deploy(router.address, sender=admin)
    router.setLogic(PRICE_ORACLE, price.address, sender=admin)
    router.setLogic(BEACON, beacon.address, sender=admin)
    net.center.setAvsLogic(router.address, sender=admin)
    return Hooked(net, router, price, beacon)


@pytest.fixture(autouse=True)
def _rewind_hooked(request):
    """Ape reverts the chain after each test; rewind the Python side of ``Net`` with it."""
    if "hooked" not in request.fixturenames:
        yield
        return
    net = request.getfixturevalue("hooked").net
    saved = (list(net.operators), net._next_account)
    yield
    net.operators[:], net._next_account = saved
