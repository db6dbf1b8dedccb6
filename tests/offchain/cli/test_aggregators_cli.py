"""`othentic aggregators`: opting in and out, the endpoint, the owner's settings and the turn order,
run in-process with click's runner against a real anvil and a real deployment. The tests of this
module follow one another on the same chain (each says what it expects to find)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from eth_account import Account

from othentic_offchain.chain.deploy import TOKEN
from othentic_offchain.chain.schedule import read_schedule
from othentic_offchain.cli import cli
from othentic_offchain.devnet.anvil import DEV_PRIVATE_KEYS
from othentic_offchain.devnet.network import LocalNetwork

ADMIN = DEV_PRIVATE_KEYS[0]
A, B, C = DEV_PRIVATE_KEYS[1:4]
STRANGER = DEV_PRIVATE_KEYS[4]  # funded by anvil, never registered
TASK = bytes.fromhex("5c" * 32)


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    with LocalNetwork(tmp_path_factory.mktemp("aggregators")) as network:
        network.start_chain()
        network.add_operators([A, B, C], [5 * TOKEN] * 3, publish_endpoints=False, workers=1)
        yield network


@pytest.fixture
def run(net, monkeypatch):
    for name in ("PRIVATE_KEY", "L2_RPC", "RPC_URL", "OTHENTIC_CONFIG", "ATTESTATION_CENTER_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTHENTIC_DEPLOYMENT", str(net.deployment_path))

    def invoke(*args):
        return CliRunner().invoke(cli, ["aggregators", *args], catch_exceptions=False)

    return invoke


def listed(run) -> list[dict]:
    result = run("list", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_opting_in_before_the_owner_admits_aggregators_fails_saying_who_raises_the_limit(run):
    result = run("opt-in", "http://127.0.0.1:9100", "--private-key", A)
    assert result.exit_code == 1
    assert "optInAsAggregator reverts: AggregatorLimitReached(0)" in result.output
    assert "othentic aggregators config --max N" in result.output
    assert listed(run) == []


def test_only_the_avs_owner_sets_the_schedule(run):
    result = run("config", "--max", "3", "--private-key", A)
    assert result.exit_code == 1
    assert "AccessControlUnauthorizedAccount" in result.output and "only the AVS owner" in result.output


def test_a_grace_not_shorter_than_the_turn_is_refused_with_the_decoded_error(run):
    result = run("config", "--max", "3", "--turn-seconds", "4", "--grace-seconds", "4", "--private-key", ADMIN)
    assert result.exit_code == 1
    assert "InvalidAggregatorConfig(3, 4, 4)" in result.output and "below --turn-seconds" in result.output


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--max", "65"), "--max"),
        (("--max", "-1"), "--max"),
        (("--turn-seconds", "0"), "--turn-seconds"),
        (("--grace-seconds", str(2**32)), "--grace-seconds"),
        ((), "at least one of"),
    ],
)
def test_config_values_out_of_the_contracts_range_are_refused_before_sending(net, run, args, option):
    before = net.avs.center.functions.aggregatorConfig().call()
    result = run("config", *args, "--private-key", ADMIN)
    assert result.exit_code == 2 and option in result.output
    assert net.avs.center.functions.aggregatorConfig().call() == before


def test_the_owner_sets_the_schedule_and_options_not_given_keep_their_value(net, run):
    result = run("config", "--max", "2", "--turn-seconds", "4", "--grace-seconds", "1", "--private-key", ADMIN)
    assert result.exit_code == 0, result.output
    assert "at most 2, turns of 4 s, grace 1 s" in result.output
    assert run("config", "--grace-seconds", "2", "--private-key", ADMIN).exit_code == 0
    assert net.avs.center.functions.aggregatorConfig().call() == (2, 0, 4, 2)
    assert "0 of at most 2 aggregators; turns of 4 s, grace 2 s." in run("list").output


def test_operators_opt_in_in_order_up_to_the_limit(net, run):
    result = run("opt-in", "http://127.0.0.1:9100", "--private-key", A)
    assert result.exit_code == 0, result.output
    assert "is aggregator 1 of the list, taking tasks at http://127.0.0.1:9100" in result.output
    assert run("opt-in", "http://127.0.0.1:9200", "--private-key", B).exit_code == 0
    again = run("opt-in", "http://127.0.0.1:9101", "--private-key", A)
    assert again.exit_code == 1 and "AlreadyAggregator(" in again.output and "aggregators endpoint URL" in again.output
    full = run("opt-in", "http://127.0.0.1:9300", "--private-key", C)
    assert full.exit_code == 1 and "AggregatorLimitReached(2)" in full.output
    stranger = run("opt-in", "http://127.0.0.1:9400", "--private-key", STRANGER)
    assert stranger.exit_code == 1 and "NotRegistered(" in stranger.output and "operator register" in stranger.output
    a, b = (net.operators[0], net.operators[1])
    assert listed(run) == [
        {"position": 1, "operator": a.id, "account": a.account, "endpoint": "http://127.0.0.1:9100"},
        {"position": 2, "operator": b.id, "account": b.account, "endpoint": "http://127.0.0.1:9200"},
    ]


def test_an_aggregator_changes_its_endpoint_and_bad_endpoints_are_refused(run):
    assert run("endpoint", "http://10.0.0.2:9100", "--private-key", A).exit_code == 0
    assert listed(run)[0]["endpoint"] == "http://10.0.0.2:9100"
    empty = run("endpoint", "", "--private-key", A)
    assert empty.exit_code == 1 and "EmptyEndpoint()" in empty.output
    long = run("endpoint", "http://" + "x" * 300, "--private-key", A)
    assert long.exit_code == 1 and "EndpointTooLong(307, 256)" in long.output
    not_one = run("endpoint", "http://127.0.0.1:9300", "--private-key", C)
    address = Account.from_key(C).address
    assert not_one.exit_code == 1 and f"NotAggregator({address})" in not_one.output
    assert "aggregators opt-in URL" in not_one.output


@pytest.mark.parametrize("offset", [0, 1, 3, 4, 5, 9])
def test_a_tasks_turn_order_agrees_with_the_contracts_aggregator_turn(net, run, offset):
    """Turns of 4 s with a grace of 2 s: at each time, the first row is the contract's aggregator on
    turn, and a row says "in grace" exactly when the contract names that one in grace."""
    timestamp = 1_000_000 + offset
    result = run("list", "--task", "0x" + TASK.hex(), "--at", str(timestamp), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    on_turn, in_grace = net.avs.center.functions.aggregatorTurn(TASK, timestamp).call()
    assert [row["order"] for row in rows] == [1, 2]
    assert rows[0]["operator"] == on_turn and rows[0]["now"] == "on turn"
    assert rows[0]["starts"] == timestamp - timestamp % 4 and rows[0]["ends"] == rows[0]["starts"] + 4
    assert rows[1]["starts"] == rows[0]["ends"] and rows[1]["starts in (s)"] == rows[1]["starts"] - timestamp
    graced = [row["operator"] for row in rows if row["now"].startswith("in grace")]
    assert graced == ([in_grace] if in_grace else [])
    assert {row["operator"] for row in rows} == {a.operator_id for a in read_schedule(net.avs.center).aggregators}


def test_the_turn_order_defaults_to_the_latest_blocks_time(net, run):
    result = run("list", "--task", TASK.hex())
    assert result.exit_code == 0, result.output
    now = net.w3.eth.get_block("latest")["timestamp"]
    assert f"Task 0x{TASK.hex()} at block time" in result.output
    assert int(result.output.split("at block time ")[1].split(":")[0]) >= now


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--task", "0x1234"), "is not a task hash"),
        (("--task", "zz" * 32), "is not a task hash"),
        (("--at", "5"), "--at needs --task"),
    ],
)
def test_list_refuses_a_malformed_task_hash_and_at_without_a_task(run, args, message):
    result = run("list", *args)
    assert result.exit_code == 2 and message in result.output


def test_opting_out_moves_the_last_aggregator_into_the_gap(net, run):
    b = net.operators[1]
    result = run("opt-out", "--private-key", A)
    assert result.exit_code == 0 and f"Operator {net.operators[0].id} is no longer an aggregator." in result.output
    assert listed(run) == [{"position": 1, "operator": b.id, "account": b.account, "endpoint": "http://127.0.0.1:9200"}]
    twice = run("opt-out", "--private-key", A)
    assert twice.exit_code == 1 and "NotAggregator(" in twice.output
    assert run("opt-in", "http://127.0.0.1:9300", "--private-key", C).exit_code == 0  # a place is free again
    assert [row["operator"] for row in listed(run)] == [b.id, net.operators[2].id]


def test_a_turn_order_with_nobody_opted_in_says_anyone_lands_tasks(net, run):
    for key in (B, C):
        assert run("opt-out", "--private-key", key).exit_code == 0
    result = run("list", "--task", TASK.hex())
    assert result.exit_code == 1 and "no aggregator has opted in" in result.output
