"""What ``othentic node`` decides before it starts: which BLS key it may sign with, and where its
SQLite record lives."""

from __future__ import annotations

import logging

import click
import pytest

from othentic_offchain.cli.operator import load_bls
from othentic_offchain.crypto.keys import derive_bls_key
from othentic_offchain.devnet.anvil import DEV_PRIVATE_KEYS
from othentic_offchain.nodes.common.paths import node_db_path

KEY = DEV_PRIVATE_KEYS[1]
ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@pytest.fixture(autouse=True)
def no_bls_env(monkeypatch):
    monkeypatch.delenv("BLS_PRIVATE_KEY", raising=False)


def test_a_derived_bls_key_is_refused_on_a_chain_that_is_not_a_local_devnet():
    with pytest.raises(click.ClickException, match="devnets only"):
        load_bls(None, None, KEY, 1)


def test_a_derived_bls_key_is_accepted_elsewhere_only_with_the_explicit_flag(caplog):
    with caplog.at_level(logging.WARNING):
        keys = load_bls(None, None, KEY, 1, allow_derived=True)
    assert keys.public == derive_bls_key(KEY).public
    assert "DEVNETS ONLY" in caplog.text


@pytest.mark.parametrize("chain_id", [31337, 1337])
def test_a_derived_bls_key_on_a_local_devnet_works_with_a_loud_warning(chain_id, caplog):
    with caplog.at_level(logging.WARNING):
        keys = load_bls(None, None, KEY, chain_id)
    assert keys.public == derive_bls_key(KEY).public
    assert "DEVNETS ONLY" in caplog.text


def test_a_given_bls_key_needs_no_flag_and_gives_no_warning(monkeypatch, caplog):
    monkeypatch.setenv("BLS_PRIVATE_KEY", "0x1234")
    with caplog.at_level(logging.WARNING):
        load_bls(None, None, KEY, 1)
    assert "DEVNETS ONLY" not in caplog.text


def test_the_attester_command_has_the_allow_flag():
    from click.testing import CliRunner

    from othentic_offchain.cli import cli

    result = CliRunner().invoke(cli, ["node", "attester", "--help"])
    assert "--allow-derived-bls-key" in result.output


def test_the_default_vote_record_is_one_file_per_chain_and_operator_whatever_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    first = node_db_path(None, "attester", 31337, ADDRESS)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert node_db_path(None, "attester", 31337, ADDRESS) == first
    assert first == tmp_path / "data" / "othentic" / f"attester-31337-{ADDRESS}.sqlite3"
    assert first.parent.is_dir()
    assert node_db_path(None, "attester", 1, ADDRESS) != first


def test_without_xdg_data_home_the_record_is_under_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    path = node_db_path(None, "aggregator", 31337, ADDRESS)
    assert path == tmp_path / ".local" / "share" / "othentic" / f"aggregator-31337-{ADDRESS}.sqlite3"


def test_db_overrides_the_default(tmp_path):
    assert node_db_path(tmp_path / "mine.sqlite3", "attester", 31337, ADDRESS) == tmp_path / "mine.sqlite3"


def test_the_nodes_library_configs_default_to_the_same_fixed_files(tmp_path, monkeypatch):
    from othentic_offchain.chain.deploy import DeploymentRecord
    from othentic_offchain.nodes.aggregator.config import AggregatorConfig
    from othentic_offchain.nodes.attester.config import AttesterConfig
    from othentic_offchain.nodes.performer.config import PerformerConfig

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    record = DeploymentRecord(chain_id=31337, contracts={}, deployer="", block_number=0)
    attester = AttesterConfig("http://127.0.0.1:8545", record, KEY, derive_bls_key(KEY), "http://127.0.0.1:1")
    aggregator = AggregatorConfig("http://127.0.0.1:8545", record, KEY)
    assert attester.votes_path == node_db_path(None, "attester", 31337, ADDRESS)
    assert aggregator.store_path == node_db_path(None, "aggregator", 31337, ADDRESS)
    assert attester.votes_path.is_absolute() and aggregator.store_path.is_absolute()
    performer = PerformerConfig("http://127.0.0.1:8545", record, KEY, "http://127.0.0.1:1", "http://127.0.0.1:2")
    assert performer.outbox_file == node_db_path(None, "performer", 31337, ADDRESS)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["node", "attester", "--validation-service", "http://x", "--trusted-aggregator", "0x1234"],
            "'0x1234' is not an address",
        ),
        (["node", "aggregator", "--trusted-client", "localhost"], "'localhost' is not an IP address or network"),
        (
            ["node", "performer", "--aggregator", "http://a:1,ws://b:2"],
            "must start with http:// or https://, got 'ws://b:2'",
        ),
        (["node", "performer", "--aggregator", ","], "at least one aggregator URL"),
        (["node", "performer", "--task-deadline", "0"], "--task-deadline"),
        (["node", "attester", "--validation-service", "http://x", "--performer-task-deadline", "-1"], "deadline"),
    ],
    ids=[
        "attester-aggregator-address",
        "aggregator-trusted-client",
        "performer-aggregator-url",
        "performer-no-aggregator",
        "performer-task-deadline",
        "attester-performer-task-deadline",
    ],
)
def test_who_a_node_trusts_is_checked_before_it_connects(args, fragment):
    from click.testing import CliRunner

    from othentic_offchain.cli import cli

    result = CliRunner().invoke(cli, [*args, "--rpc", "http://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    assert fragment in result.output


@pytest.mark.parametrize(
    "args",
    [["node", "performer", "--confirmations", "-1"], ["node", "attester", "--performer-confirmations", "-1"]],
    ids=["performer", "attester-performer"],
)
def test_a_negative_confirmation_depth_is_refused_before_connecting(args):
    from click.testing import CliRunner

    from othentic_offchain.cli import cli

    result = CliRunner().invoke(cli, [*args, "--rpc", "http://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    assert "confirmations" in result.output and "-1" in result.output


def test_performer_aggregators_are_repeatable_or_comma_separated_in_order():
    from othentic_offchain.cli.nodes import _aggregators

    given = ("http://a:1/, http://b:2/", "http://c:3/", "http://a:1/")
    assert _aggregators(given) == ("http://a:1/", "http://b:2/", "http://c:3/")


@pytest.mark.parametrize(
    ("command", "flags"),
    [("performer", ("--outbox", "--task-deadline")), ("attester", ("--performer-outbox", "--performer-task-deadline"))],
)
def test_the_performer_commands_offer_the_outbox_and_its_deadline(command, flags):
    from click.testing import CliRunner

    from othentic_offchain.cli import cli

    result = CliRunner().invoke(cli, ["node", command, "--help"])
    for flag in flags:
        assert flag in result.output
    assert "Repeatable or comma-separated" in " ".join(result.output.split())
