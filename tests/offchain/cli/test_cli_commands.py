"""The `othentic` commands that talk to a chain (operator, task-definition, rewards, keys, task),
run in-process with click's runner against a real anvil and a real deployment."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from eth_account import Account

from othentic_offchain.chain.client import AvsContracts
from othentic_offchain.chain.deploy import Web3Backend, deploy_system
from othentic_offchain.cli import cli
from othentic_offchain.cli.common import tokens
from othentic_offchain.devnet.anvil import DEV_PRIVATE_KEYS, Anvil
from othentic_offchain.nodes.common.redact import redact_url
from othentic_offchain.devnet.rpc_relay import RpcRelay

ADMIN = DEV_PRIVATE_KEYS[0]
OPERATOR = DEV_PRIVATE_KEYS[1]
OTHER = DEV_PRIVATE_KEYS[2]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    with Anvil() as node:
        w3 = node.web3()
        record = deploy_system(Web3Backend(w3, ADMIN))
        record.rpc_url = node.rpc_url
        path = tmp_path_factory.mktemp("deployment") / "deployment.json"
        record.save(path)
        yield node, w3, path, AvsContracts(w3, record)


@pytest.fixture
def run(chain, monkeypatch):
    """Invoke `othentic ARGS` against the module's chain; returns the click Result."""
    _node, _w3, path, _avs = chain
    for name in ("PRIVATE_KEY", "L2_RPC", "RPC_URL", "OTHENTIC_CONFIG", "ATTESTATION_CENTER_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTHENTIC_DEPLOYMENT", str(path))

    def invoke(*args, env=None, input=None):
        return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)

    return invoke


@pytest.fixture(scope="module")
def registered(chain):
    """OPERATOR registered through the CLI once for the module (later tests build on it)."""
    result = CliRunner().invoke(
        cli,
        [
            "operator",
            "register",
            "--stake",
            "5",
            "--mint",
            "--private-key",
            OPERATOR,
            "--endpoint",
            "http://127.0.0.1:9001",
            "--deployment",
            str(chain[2]),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return Account.from_key(OPERATOR).address


def test_operator_register_prints_the_new_operator_id_and_publishes_the_endpoint(chain, registered, run):
    avs = chain[3]
    operator_id = avs.operator_id(registered)
    assert operator_id == 1
    operator = avs.operator(operator_id)
    assert operator.active and operator.stake == 5 * 10**18 and operator.endpoint == "http://127.0.0.1:9001"
    listed = json.loads(run("operator", "list", "--json").output)
    assert listed == [
        {
            "id": 1,
            "account": registered,
            "status": "active",
            "stake": "5",
            "endpoint": "http://127.0.0.1:9001",
            "claimable": "0",
        }
    ]


def test_operator_register_below_the_minimum_stake_fails_with_the_decoded_error(registered, run):
    result = run("operator", "register", "--stake", "0.5", "--mint", "--private-key", OTHER)
    assert result.exit_code == 1
    assert "registerOperator reverts: StakeBelowMinimum(500000000000000000, 1000000000000000000)" in result.output


def test_operator_stake_and_withdraw_move_the_stake_and_queue_the_withdrawal(chain, registered, run):
    node, _w3, _path, avs = chain
    assert "now stakes 7" in run("operator", "stake", "--amount", "2", "--mint", "--private-key", OPERATOR).output
    result = run("operator", "withdraw", "--amount", "1.5", "--private-key", OPERATOR)
    assert result.exit_code == 0 and "Requested 1.5" in result.output
    early = run("operator", "withdraw", "--complete", "--private-key", OPERATOR)
    assert early.exit_code == 1 and "WithdrawalLocked" in early.output
    node.rpc("anvil_mine", [hex(200)])
    done = run("operator", "withdraw", "--complete", "--private-key", OPERATOR)
    assert done.exit_code == 0 and "Withdrew 1.5" in done.output
    assert avs.operator(1).stake == int(5.5 * 10**18)


def test_operator_withdraw_needs_exactly_one_of_amount_or_complete(run):
    result = run("operator", "withdraw", "--private-key", OPERATOR)
    assert result.exit_code == 2 and "either --amount" in result.output


def test_task_definition_create_update_show_and_list(chain, registered, run):
    created = run(
        "task-definition",
        "create",
        "--name",
        "oracle",
        "--attester-reward",
        "0.25",
        "--restrict",
        "1",
        "--penalize",
        "double,rejected",
        "--private-key",
        ADMIN,
    )
    assert created.exit_code == 0 and "Created task definition 1 ('oracle')" in created.output
    shown = json.loads(run("task-definition", "show", "1", "--json").output)
    assert shown["attester reward"] == "0.25" and shown["restricted to"] == "1"
    # The member's stake is whatever earlier tests of this module left (the chain is the module's).
    assert shown["penalties"] == "double,rejected" and shown["members"] == {"1": tokens(chain[3].operator(1).stake)}
    updated = run("task-definition", "update", "1", "--performer-reward", "1", "--private-key", ADMIN)
    assert updated.exit_code == 0
    _set_id, params = chain[3].definition(1)
    assert params.performer_reward == 10**18 and params.attester_reward == 25 * 10**16  # the rest kept
    listed = json.loads(run("task-definition", "list", "--json").output)
    assert [row["name"] for row in listed] == ["generic", "oracle"]


def test_task_definition_create_by_a_non_admin_fails_with_the_access_control_error(run):
    result = run("task-definition", "create", "--name", "nope", "--private-key", OTHER)
    assert result.exit_code == 1 and "AccessControlUnauthorizedAccount" in result.output


def test_task_definition_rejects_unknown_offences_and_bad_ids_before_sending(run):
    result = run("task-definition", "create", "--name", "x", "--penalize", "lying", "--private-key", ADMIN)
    assert result.exit_code == 2 and "unknown offence" in result.output
    result = run("task-definition", "create", "--name", "x", "--restrict", "1,b", "--private-key", ADMIN)
    assert result.exit_code == 2 and "operator ids must be integers" in result.output


def test_rewards_fund_show_and_claim(chain, registered, run):
    funded = run("rewards", "fund", "--amount", "100", "--mint", "--private-key", ADMIN)
    assert funded.exit_code == 0 and "the vault holds 100" in funded.output
    shown = json.loads(run("rewards", "show", "--json").output)
    assert shown == [{"account": registered, "operator": 1, "claimable": "0", "claimed": "0"}]
    nothing = run("rewards", "claim", "--private-key", OPERATOR)
    assert nothing.exit_code == 1 and "has nothing to claim" in nothing.output


def test_keys_generate_writes_encrypted_files_and_show_reads_them(tmp_path, run):
    password = tmp_path / "password"
    password.write_text("correct horse\n")
    out = tmp_path / "keys"
    result = run("keys", "generate", "--out", str(out), "--password-file", str(password))
    assert result.exit_code == 0
    assert (out / "account.json").stat().st_mode & 0o777 == 0o600
    bls = json.loads((out / "bls.json").read_text())
    assert bls["keyType"] == "bls-bn254" and "crypto" in bls
    shown = run("keys", "show", "--bls-key-file", str(out / "bls.json"), "--password-file", str(password))
    assert shown.exit_code == 0 and shown.output.count("0x") == 6
    again = run("keys", "generate", "--out", str(out), "--password-file", str(password))
    assert again.exit_code == 1 and "refusing to overwrite" in again.output


def test_a_toml_config_file_supplies_defaults_and_env_vars_supply_keys(chain, tmp_path, registered, monkeypatch):
    _node, _w3, path, _avs = chain
    monkeypatch.delenv("OTHENTIC_DEPLOYMENT", raising=False)
    config = tmp_path / "othentic.toml"
    config.write_text(f'deployment = "{path}"\n[operator.list]\njson = true\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "operator", "list"], catch_exceptions=False)
    assert result.exit_code == 0 and json.loads(result.output)[0]["id"] == 1
    stake = CliRunner().invoke(
        cli,
        ["--config", str(config), "operator", "stake", "--amount", "1", "--mint"],
        env={"PRIVATE_KEY": OPERATOR},
        catch_exceptions=False,
    )
    assert stake.exit_code == 0 and "Operator 1 now stakes" in stake.output


def test_chain_errors_are_one_line_messages(chain, tmp_path, run):
    unreachable = run("operator", "list", "--rpc", "http://127.0.0.1:9")
    assert unreachable.exit_code == 1 and "cannot reach the chain at http://127.0.0.1:9" in unreachable.output
    missing = run("operator", "list", "--deployment", str(tmp_path / "nope.json"))
    assert missing.exit_code == 1 and "no deployment file" in missing.output
    no_key = run("operator", "stake", "--amount", "1")
    assert no_key.exit_code == 1 and "no ECDSA key" in no_key.output


def test_several_rpc_urls_fail_over_repeated_comma_separated_from_the_environment_or_config(
    chain, registered, run, tmp_path
):
    node, _w3, _path, _avs = chain
    down = "http://127.0.0.1:9/v3/secret-api-key"
    config = tmp_path / "othentic.toml"
    config.write_text(f'rpc = ["{down}", "{node.rpc_url}"]\n')
    for args, env in [
        (["--rpc", down, "--rpc", node.rpc_url], None),
        (["--rpc", f"{down},{node.rpc_url}"], None),
        ([], {"L2_RPC": f"{down},{node.rpc_url}"}),
        ([], {"OTHENTIC_CONFIG": str(config)}),
    ]:
        result = run("operator", "list", "--json", *args, env=env)
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)[0]["account"] == registered


def test_an_rpc_url_serving_another_chain_is_refused_naming_it_without_its_path(chain, run):
    node, _w3, _path, _avs = chain
    with RpcRelay(node.rpc_url, path="/v3/secret-api-key") as relay:
        relay.serve_chain_id(1)
        result = run("operator", "list", "--rpc", f"{node.rpc_url},{relay.url}")
    assert result.exit_code == 1 and f"{redact_url(relay.url)} serves chain 1" in result.output
    assert "secret" not in result.output
    unreachable = run("operator", "list", "--rpc", "http://127.0.0.1:9/v3/secret-api-key")
    assert unreachable.exit_code == 1 and "cannot reach the chain at http://127.0.0.1:9" in unreachable.output
    assert "secret" not in unreachable.output


def test_the_attestation_center_address_alone_is_enough_to_connect(chain, registered, run, monkeypatch):
    node, _w3, _path, avs = chain
    monkeypatch.delenv("OTHENTIC_DEPLOYMENT")
    result = run("operator", "list", "--json", "--rpc", node.rpc_url, "--attestation-center", avs.address)
    assert result.exit_code == 0 and json.loads(result.output)[0]["account"] == registered


def test_task_send_to_an_unreachable_aggregator_says_so(run):
    result = run(
        "task",
        "send",
        "--aggregator",
        "http://127.0.0.1:9",
        "--proof-of-task",
        "x",
        "--data-sha256-of-proof",
        "--private-key",
        OPERATOR,
    )
    assert result.exit_code == 1 and "cannot reach the aggregator at http://127.0.0.1:9" in result.output


def test_task_show_of_a_task_that_never_landed_says_so(run):
    result = run("task", "show", "0x" + "ab" * 32)
    assert result.exit_code == 1 and "has not landed" in result.output


def test_operator_rotate_bls_key_registers_the_new_key(chain, tmp_path, registered, run):
    password = tmp_path / "password"
    password.write_text("pw")
    assert (
        run("keys", "generate", "--bls-only", "--out", str(tmp_path), "--password-file", str(password)).exit_code == 0
    )
    result = run(
        "operator",
        "rotate-bls-key",
        "--new-bls-key-file",
        str(tmp_path / "bls.json"),
        "--bls-password-file",
        str(password),
        "--private-key",
        OPERATOR,
    )
    assert result.exit_code == 0 and "now signs with the new BLS key" in result.output
    from othentic_offchain.crypto.keys import load_bls_key

    new = load_bls_key(key_file=tmp_path / "bls.json", password_file=password)
    assert chain[3].operator(1).pk_g2 == new.public.g2
