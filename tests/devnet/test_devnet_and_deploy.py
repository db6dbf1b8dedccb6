"""The two entry points a user meets first: `ape run deploy` and `othentic devnet`, run for real."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from othentic_offchain.chain.deploy import DeploymentRecord
from othentic_offchain.devnet.anvil import Anvil
from tests.devnet.ape_deploy import ROOT, ape_deploy, ape_env

pytestmark = pytest.mark.slow


def _othentic_processes(state_dir: Path) -> list[str]:
    """Command lines of live processes started for this state dir (the devnet's children)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(state_dir) in cmdline and "othentic_offchain.cli" in cmdline:
            found.append(cmdline)
    return found


def test_ape_run_deploy_deploys_everything_and_a_second_run_refuses_politely(tmp_path):
    out = tmp_path / "deployment.json"
    with Anvil() as node:
        first = ape_deploy(node.rpc_url, out)
        assert first.returncode == 0, first.stdout + first.stderr
        record = DeploymentRecord.load(out)
        assert record.chain_id == 31337 and record.rpc_url
        w3 = node.web3()
        for name in (
            "AttestationCenter",
            "OperatorRegistry",
            "TaskDefinitions",
            "RewardsVault",
            "PenaltyManager",
            "StakeToken",
            "RewardToken",
        ):
            assert w3.eth.get_code(record.contracts[name]), name
            assert record.contracts[name] in first.stdout
        written = out.read_text()

        second = ape_deploy(node.rpc_url, out)
        assert second.returncode == 0
        assert "A deployment already exists on chain 31337" in second.stdout
        assert "Nothing was deployed. Pass --redeploy" in second.stdout
        assert out.read_text() == written

        again = ape_deploy(node.rpc_url, out, "--redeploy")
        assert again.returncode == 0
        assert DeploymentRecord.load(out).attestation_center != record.attestation_center


def test_ape_run_deploy_on_a_reset_chain_deploys_again_instead_of_trusting_a_stale_file(tmp_path):
    out = tmp_path / "deployment.json"
    with Anvil() as node:
        assert ape_deploy(node.rpc_url, out).returncode == 0
    with Anvil() as fresh:  # same chain id, no code: the file describes a chain that is gone
        result = ape_deploy(fresh.rpc_url, out)
        assert result.returncode == 0 and "Deployed on chain 31337" in result.stdout


def test_devnet_runs_tasks_over_the_example_definitions_prints_the_summary_and_leaves_nothing_running(tmp_path):
    state = tmp_path / "devnet"
    result = subprocess.run(  # started outside the checkout: it must find the project on its own
        [
            sys.executable,
            "-m",
            "othentic_offchain.cli",
            "devnet",
            "--operators",
            "6",
            "--tasks",
            "8",
            "--offline-attesters",
            "1",
            "--state-dir",
            str(state),
        ],
        cwd=tmp_path,
        env=ape_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for heading in ("Tasks per definition (on-chain)", "Latency", "Operators", "Network"):
        assert heading in out
    assert "All 8 tasks landed." in out
    assert "offline" in out  # the stopped attester is shown as such
    # the examples ran end to end: an approved price inside the attesters' time window is stored, and
    # beacon rounds (performers' BLS round signatures, checked by the attesters) were mixed in
    assert re.search(r"price oracle\W+ETH-USD = [\d,.]+ \(on-chain\)", out), out[-3000:]
    beacon_rounds = re.search(r"randomness beacon\W+(\d+) rounds mixed in", out)
    assert beacon_rounds and int(beacon_rounds.group(1)) >= 1, out[-3000:]
    record = DeploymentRecord.load(state / "deployment.json")
    assert {"PriceOracleLogic", "RandomnessBeaconLogic", "AvsLogicRouter"} <= set(record.contracts)
    assert (state / "logs" / "aggregator.log").exists()
    endpoints = json.loads((state / "devnet.json").read_text())
    assert endpoints["aggregator"].startswith("http://127.0.0.1:") and len(endpoints["attesters"]) == 6
    assert _othentic_processes(state) == []


def test_devnet_with_interval_mining_lands_its_tasks(tmp_path):
    """``--block-time 1``: anvil mines a block a second and none in between, so every transaction
    (deployment, registrations, submissions) waits in the pool for its block, as on a real chain."""
    state = tmp_path / "devnet"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "othentic_offchain.cli",
            "devnet",
            "--operators",
            "4",
            "--tasks",
            "4",
            "--block-time",
            "1",
            "--state-dir",
            str(state),
        ],
        cwd=tmp_path,
        env=ape_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "All 4 tasks landed." in result.stdout
    assert re.search(r"mining\W+a block every 1 s", result.stdout), result.stdout[-3000:]
    assert _othentic_processes(state) == []


@pytest.mark.parametrize("seconds", ["0", "-1", "soon"])
def test_devnet_refuses_a_block_time_that_is_not_a_positive_number(tmp_path, seconds):
    result = subprocess.run(
        [sys.executable, "-m", "othentic_offchain.cli", "devnet", "--block-time", seconds],
        cwd=tmp_path,
        env=ape_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--block-time" in result.stderr
    assert not (tmp_path / ".devnet").exists()  # refused before anything started


def test_devnet_stops_every_process_it_started_on_ctrl_c(tmp_path):
    state = tmp_path / "devnet"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "othentic_offchain.cli",
            "devnet",
            "--operators",
            "4",
            "--tasks",
            "2",
            "--keep-running",
            "--state-dir",
            str(state),
        ],
        cwd=ROOT,
        env=ape_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        output = "".join(lines)
        assert "othentic task send --aggregator" in output, output[-3000:]
        assert _othentic_processes(state), "the network should be up while --keep-running waits"
        # the devnet serves its dashboard, and says where
        dashboard = json.loads((state / "devnet.json").read_text())["dashboard"]
        assert f"Dashboard: {dashboard}" in output
        with urllib.request.urlopen(dashboard + "api/state", timeout=30) as response:
            shown = json.loads(response.read())
        assert shown["errors"] == [] and len(shown["operators"]) == 4
        assert any(t["status"] == "landed" for t in shown["tasks"])
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.5)
    assert _othentic_processes(state) == []
