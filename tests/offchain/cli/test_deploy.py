"""``othentic deploy``: the deployment plan from the installed package, with web3.py and one key."""

from __future__ import annotations

from click.testing import CliRunner

from othentic_offchain.chain.deploy import DeploymentRecord
from othentic_offchain.cli import cli
from othentic_offchain.devnet.anvil import DEV_PRIVATE_KEYS, Anvil

ADDRESS = "0x" + "11" * 20


def _deploy(rpc_url: str, *args: str):
    return CliRunner().invoke(
        cli, ["deploy", "--rpc", rpc_url, "--private-key", DEV_PRIVATE_KEYS[0], *args], catch_exceptions=False
    )


def test_othentic_deploy_deploys_everything_and_a_second_run_refuses_politely(tmp_path):
    out = tmp_path / "deployment.json"
    with Anvil() as node:
        first = _deploy(node.rpc_url, "--out", str(out))
        assert first.exit_code == 0, first.output
        record = DeploymentRecord.load(out)
        assert record.chain_id == 31337 and record.rpc_url == node.rpc_url
        w3 = node.web3()
        for name in ("AttestationCenter", "OperatorRegistry", "TaskDefinitions", "RewardsVault", "PenaltyManager"):
            assert w3.eth.get_code(record.contracts[name]), name
            assert record.contracts[name] in first.output
        written = out.read_text()

        second = _deploy(node.rpc_url, "--out", str(out))
        assert second.exit_code == 0
        assert "A deployment already exists on chain 31337" in second.output
        assert "Nothing was deployed. Pass --redeploy" in second.output
        assert out.read_text() == written

        again = _deploy(node.rpc_url, "--out", str(out), "--redeploy")
        assert again.exit_code == 0, again.output
        assert DeploymentRecord.load(out).attestation_center != record.attestation_center


def test_othentic_deploy_on_a_chain_that_is_not_a_dev_chain_asks_for_the_tokens(tmp_path):
    with Anvil(chain_id=11155111) as node:
        refused = _deploy(node.rpc_url, "--out", str(tmp_path / "d.json"))
        assert refused.exit_code == 2
        assert "give --stake-token and --reward-token" in refused.output
        assert not (tmp_path / "d.json").exists()


def test_othentic_deploy_uses_the_given_tokens(tmp_path):
    out = tmp_path / "deployment.json"
    with Anvil(chain_id=11155111) as node:
        result = _deploy(node.rpc_url, "--out", str(out), "--stake-token", ADDRESS, "--reward-token", ADDRESS)
        assert result.exit_code == 0, result.output
        record = DeploymentRecord.load(out)
        assert record.chain_id == 11155111
        assert record.contracts["StakeToken"].lower() == ADDRESS and record.contracts["RewardToken"].lower() == ADDRESS


def test_othentic_deploy_without_a_reachable_chain_is_a_one_line_error(tmp_path):
    result = _deploy("http://127.0.0.1:9", "--out", str(tmp_path / "d.json"))
    assert result.exit_code == 1
    assert "cannot reach the chain at http://127.0.0.1:9" in result.output
