"""The project-aware commands' refusals: each says what to do, and nothing is started or signed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from othentic_offchain.cli import cli
from othentic_offchain.project.scaffold import create_project


@pytest.fixture
def in_project(tmp_path, monkeypatch):
    folder = create_project("demo", "minimal", tmp_path)
    monkeypatch.chdir(folder)
    for name in ("OTHENTIC_DEPLOYMENT", "OTHENTIC_AGGREGATOR", "PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    return folder


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_task_send_params_in_a_project_whose_devnet_is_not_running_says_to_start_it(in_project):
    result = run("task", "send", "--definition", "uppercase", "--params", '{"text": "x"}')
    assert result.exit_code == 1
    assert "the devnet of demo is not running" in result.output and "othentic devnet" in result.output


def test_task_send_params_outside_a_project_asks_for_the_performer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("task", "send", "--definition", "uppercase", "--params", "{}")
    assert result.exit_code == 2 and "give --performer URL" in result.output
    no_file = run("task", "send", "--definition", "uppercase", "--params", "{}", "--performer", "http://127.0.0.1:1")
    assert no_file.exit_code == 2 and "--performer needs the deployment file" in no_file.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--params", "[1, 2]"], "not a JSON object of parameters"),
        (["--params", "{}", "--proof-of-task", "p"], "give no --proof-of-task"),
        (["--performer", "http://127.0.0.1:1", "--proof-of-task", "p"], "--performer triggers a performer"),
        ([], "give --params (through the performer) or --proof-of-task"),
    ],
)
def test_task_send_refuses_mixed_or_malformed_options(in_project, args, message):
    result = run("task", "send", "--definition", "uppercase", *args)
    assert result.exit_code != 0 and message in result.output


def test_devnet_in_a_project_refuses_options_its_project_file_decides(in_project):
    result = run("devnet", "--operators", "6")
    assert result.exit_code == 2 and "--operators: in a project, [devnet] of" in result.output


@pytest.mark.parametrize("args", [["--aggregators", "3"], ["--kill-aggregators", "1"]])
def test_devnet_in_a_project_refuses_the_aggregator_options_of_the_example_devnet(in_project, args):
    result = run("devnet", *args)
    assert result.exit_code == 2 and f"{args[0]}: only for the example AVSs' devnet" in result.output
    assert not (in_project / ".devnet").exists()  # refused before anything started


def test_devnet_in_a_broken_project_names_the_wrong_key(in_project):
    (in_project / "othentic.toml").write_text(
        (in_project / "othentic.toml").read_text().replace("operators = 4", 'operators = "two"')
    )
    result = run("devnet", "--tasks", "1")
    assert result.exit_code == 1 and "devnet.operators" in result.output
