"""`othentic devnet --aggregators 3 --kill-aggregators 2`: three operators opt in as aggregators and
run one each, two are SIGKILLed during the workload, and every task still lands exactly once; the
summary says who landed what. The run is the Devnet class's, in-process, so that the test can read
the chain itself before the network stops."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest
from rich.console import Console

from othentic_offchain.chain.schedule import read_schedule
from othentic_offchain.cli.devnet import _print_summary
from othentic_offchain.devnet.devnet import Devnet, DevnetOptions
from tests.devnet.ape_deploy import ape_env

pytestmark = pytest.mark.slow

TASKS = 12


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    options = DevnetOptions(
        operators=6, tasks=TASKS, aggregators=3, kill_aggregators=2, state_dir=tmp_path_factory.mktemp("devnet")
    )
    net = Devnet(options)
    started = time.monotonic()
    try:
        net.start()
        runs = net.workload()
        summary = net.summary(runs, [], started)
        yield net, runs, summary
    finally:
        net.stop()


def _events(net: Devnet, to_block: int, *names: str) -> list:
    """The center's events of the run up to ``to_block`` (the summary's last block: the network
    goes on landing beacon rounds)."""
    center, record = net.net.avs.center, net.net.record
    return [
        log
        for name in names
        for log in getattr(center.events, name)().get_logs(from_block=record.block_number, to_block=to_block)
    ]


def test_three_operators_opt_in_with_the_urls_of_their_own_aggregator_processes(run):
    net, _runs, _summary = run
    schedule = read_schedule(net.net.avs.center)
    assert (schedule.turn_seconds, schedule.grace_seconds, schedule.max_aggregators) == (2, 1, 3)
    assert [(a.operator_id, a.endpoint) for a in schedule.aggregators] == [
        (a.operator.id, a.url) for a in net.aggregators
    ]
    assert len({a.url for a in net.aggregators}) == 3
    endpoints = json.loads((net.state / "devnet.json").read_text())
    assert endpoints["aggregators"] == {str(a.operator.id): a.url for a in net.aggregators}
    assert endpoints["aggregator"] == net.aggregators[0].url  # the one that stays up
    performers = {net.net.operators[1].id, net.net.operators[2].id}
    assert performers.isdisjoint(a.operator_id for a in schedule.aggregators)


def test_two_aggregators_are_killed_mid_workload_the_last_of_the_list_first(run):
    net, _runs, _summary = run
    first, second, third = net.aggregators
    assert (third.killed_after, second.killed_after, first.killed_after) == (TASKS // 3, 2 * TASKS // 3, None)
    processes = net.net.supervisor.processes
    assert not processes[third.name].running and not processes[second.name].running
    assert processes[first.name].running


def test_every_accepted_task_landed_exactly_once(run):
    net, runs, summary = run
    assert [r.status for r in runs] == ["landed"] * TASKS, [r.error for r in runs]
    events = _events(net, summary.aggregators.to_block, "TaskSubmitted", "TaskRejected")
    per_task: dict[str, int] = {}
    for log in events:
        key = "0x" + bytes(log["args"]["taskHash"]).hex()
        per_task[key] = per_task.get(key, 0) + 1
    assert all(per_task.get(r.task_hash.lower()) == 1 for r in runs), per_task
    assert set(per_task.values()) == {1}
    report = summary.aggregators
    assert report.exactly_once and report.landings == len(events)


def test_the_report_counts_each_aggregators_landings_and_forfeited_rewards_from_the_chain(run):
    net, _runs, summary = run
    report = summary.aggregators
    events = _events(net, report.to_block, "TaskSubmitted", "TaskRejected")
    by_sender: dict[str, int] = {}
    for log in events:
        by_sender[log["args"]["aggregator"]] = by_sender.get(log["args"]["aggregator"], 0) + 1
    forfeits = _events(net, report.to_block, "AggregatorRewardForfeited")
    for row in report.rows:
        assert row.landed == by_sender.get(row.account, 0)
        mine = [log for log in forfeits if log["args"]["aggregator"] == row.account]
        assert row.forfeited == len(mine) and row.forfeited_amount == sum(log["args"]["amount"] for log in mine)
        assert row.credited >= 0
    assert sum(row.landed for row in report.rows) + sum(report.others.values()) == len(events)
    assert [row.status for row in report.rows] == [
        "running",
        f"killed after {2 * TASKS // 3} tasks",
        f"killed after {TASKS // 3} tasks",
    ]


def test_the_summary_says_who_landed_what(run):
    net, _runs, summary = run
    buffer = io.StringIO()
    _print_summary(Console(file=buffer, width=220), summary, net)
    out = buffer.getvalue()
    assert "Aggregators (on-chain schedule: turns of 2 s, grace 1 s)" in out
    for row in summary.aggregators.rows:
        assert row.account in out and f"aggregator (operator {row.operator_id})" in out
    assert f"killed after {TASKS // 3} tasks" in out and f"killed after {2 * TASKS // 3} tasks" in out
    assert f"Every task landed exactly once ({summary.aggregators.landings} landings on-chain)." in out
    assert f"All {TASKS} tasks landed." in out
    assert "Latency, trigger to the landing event" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--aggregators", "3", "--kill-aggregators", "3"], "--kill-aggregators must be below --aggregators (3)"),
        (["--operators", "4", "--aggregators", "3"], "--aggregators must be 1 to 2 with 4 operators"),
    ],
)
def test_devnet_refuses_killing_every_aggregator_or_more_aggregators_than_it_can_run(tmp_path, args, message):
    result = subprocess.run(
        [sys.executable, "-m", "othentic_offchain.cli", "devnet", *args, "--state-dir", str(tmp_path / "state")],
        cwd=tmp_path,
        env=ape_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert not (tmp_path / "state").exists()  # refused before anything started
