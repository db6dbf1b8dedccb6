"""The ``othentic`` command line: --help and the BLS demo on a fresh anvil."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from othentic_offchain import __version__
from othentic_offchain import demo as demo_module
from othentic_offchain.cli import cli
from othentic_offchain.devnet import anvil as anvil_module

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture(scope="module")
def demo_run():
    return CliRunner().invoke(cli, ["demo"], catch_exceptions=False)


def test_help(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Usage: othentic" in result.output
    assert "demo" in result.output
    result = runner.invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0
    assert "--operators" in result.output and "--signers" in result.output


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_demo_passes(demo_run):
    assert demo_run.exit_code == 0, demo_run.output
    out = demo_run.output
    assert "All checks passed." in out
    assert "BLSVerifier" in out and "0x" in out
    assert "chain id 31337, hardfork prague" in out
    assert "aggregate of 7/10 votes" in out
    assert "tampered message" in out and "key set with a non-signer" in out
    assert "WRONG" not in out and "FAILED" not in out
    assert "Gas of one on-chain verification (whole transaction):" in out
    assert "vote hash = contract's voteHash" in out


def test_demo_leaves_no_anvil(monkeypatch, runner):
    started = []
    original = anvil_module.Anvil.start

    def spy(self):
        started.append(self)
        return original(self)

    monkeypatch.setattr(anvil_module.Anvil, "start", spy)
    result = runner.invoke(cli, ["demo", "--operators", "3", "--signers", "3"])
    assert result.exit_code == 0, result.output
    assert "aggregate of 3/3 votes" in result.output
    assert "key set with a non-signer" not in result.output  # everyone signed
    assert len(started) == 1 and not started[0].running


def test_demo_rejects_more_signers_than_operators(runner):
    result = runner.invoke(cli, ["demo", "--operators", "3", "--signers", "4"])
    assert result.exit_code == 2
    assert "--signers" in result.output


def test_demo_exits_non_zero_when_a_check_fails(monkeypatch, runner):
    # A precompile path that accepts everything: the tampered message is then "valid", which must fail.
    monkeypatch.setattr(demo_module, "verify_aggregate", lambda *args, **kwargs: True)
    result = runner.invoke(cli, ["demo", "--operators", "2", "--signers", "1"])
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output and "WRONG" in result.output


def test_demo_without_anvil_says_run_make_setup(monkeypatch, runner):
    monkeypatch.setattr(anvil_module.shutil, "which", lambda name: None)
    monkeypatch.setattr(anvil_module, "_npm_candidates", lambda: [])
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 1
    assert "make setup" in result.output


def test_console_script_installed():
    script = Path(sys.executable).with_name("othentic")
    exe = str(script) if script.exists() else shutil.which("othentic")
    assert exe, "the othentic console script is not installed: run `make setup`"
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "demo" in proc.stdout


def test_dashboard_refuses_an_aggregator_url_that_is_not_http_and_a_missing_deployment(runner, tmp_path):
    result = runner.invoke(cli, ["dashboard", "--aggregator", "ftp://example.org", "--deployment", "x.json"])
    assert result.exit_code == 2 and "--aggregator" in result.output and "http:// or https://" in result.output
    missing = tmp_path / "nowhere.json"
    result = runner.invoke(cli, ["dashboard", "--aggregator", "http://127.0.0.1:1", "--deployment", str(missing)])
    assert result.exit_code == 1 and f"no deployment file at {missing}" in result.output
