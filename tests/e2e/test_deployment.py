"""The network under test was deployed by ``ape run deploy`` (the deploy script the devnet and
users run), and the script leaves a live deployment alone when run again."""

from __future__ import annotations

import pytest

from tests.devnet.ape_deploy import ape_deploy
from tests.e2e.e2e_network import GENERIC, Network

pytestmark = pytest.mark.slow


def test_ape_run_deploy_deployed_the_network_and_refuses_to_deploy_it_twice(net: Network):
    record = net.record
    assert record.chain_id == int(net.w3.eth.chain_id)
    assert f"Deployed on chain {record.chain_id}" in net.deploy_output
    for name, address in record.contracts.items():
        assert address in net.deploy_output, name
        assert len(net.w3.eth.get_code(address)) > 0, f"{name} has no code at {address}"
    assert net.avs.center.functions.stakeToken().call() == record.contracts["StakeToken"]
    assert net.avs.center.functions.rewardsVault().call() == record.contracts["RewardsVault"]
    _set, generic = net.avs.definition(GENERIC)
    assert generic.name == "generic"

    saved = net.deployment_path.read_text()
    block = int(net.w3.eth.block_number)
    again = ape_deploy(net.rpc_url, net.deployment_path, root=net.root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "A deployment already exists" in again.stdout and "Nothing was deployed" in again.stdout
    assert record.attestation_center in again.stdout
    assert net.deployment_path.read_text() == saved
    assert int(net.w3.eth.block_number) == block, "no transaction was sent"
