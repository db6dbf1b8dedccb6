"""Fixtures for the AVS contracts: a deployed network, registered operators, task submissions.

``network`` deploys everything once per test module (Ape reverts the chain after each test), with
``deploy_system`` (the same plan as ``ape run deploy``). ``Net`` wraps the center and the tokens
with the steps tests repeat: register an operator, make a task, sign and submit it.
"""

from __future__ import annotations

import ape
import pytest

from othentic_offchain.crypto import KeyPair
from tests.contracts.network import MIN_STAKE, TOKEN, Net, deploy_network


@ape.fixture(scope="session", chain_isolation=False)
def key_pool() -> list[KeyPair]:
    """Operator BLS keys from fixed seeds (a G2 multiplication each, ~30 ms): made once per session."""
    return [KeyPair.from_seed(b"othentic-py contract test operator %03d" % i) for i in range(24)]


@pytest.fixture(scope="module")
def net(project, accounts, key_pool) -> Net:
    """A fresh deployment with no operators (module scope; each test starts from it)."""
    return deploy_network(project, accounts, key_pool)


@pytest.fixture(scope="module")
def net4(project, accounts, key_pool) -> Net:
    """A deployment with four operators of equal stake (ids 1 to 4) and a funded vault."""
    network = deploy_network(project, accounts, key_pool)
    network.register_many([MIN_STAKE] * 4)
    network.fund_rewards(1_000 * TOKEN)
    return network


@pytest.fixture(autouse=True)
def _rewind_net_helpers(request):
    """Ape reverts the chain after each test; rewind the Python side of module-scoped networks too
    (their operator list and account counter), so every test starts from the fixture's state."""
    saved = [(network, network.save()) for network in
             (request.getfixturevalue(name) for name in ("net", "net4") if name in request.fixturenames)]
    yield
    for network, state in saved:
        network.restore(state)


@ape.fixture(scope="session", chain_isolation=False)
def bls_errors(project):
    """A contract object carrying BN254's library errors (EcAddFailed, PairingFailed, ...)."""
    return project.BN254Harness
