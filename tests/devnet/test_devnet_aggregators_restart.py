"""Three aggregators, all SIGKILLed while tasks are open, one restarted: every task lands, once.

The devnet of ``othentic devnet --aggregators 3`` (as processes, run in-process through the Devnet
class so that the test reads the chain itself), then:

1. tasks are triggered on both performers while every aggregator is up: the first of the
   performers' list takes them and forwards them to the other two;
2. as soon as the second aggregator holds each of them, all three are SIGKILLed, while the tasks
   are still open (collecting votes or waiting for a turn; the test checks that some were);
3. more tasks are triggered while no aggregator is up: the performers answer 202, each task kept
   in the performer's outbox;
4. the second aggregator is restarted (same key, port and task store): it resumes the tasks it
   holds, the performers' outboxes fail over to it, and every task lands exactly once, by it.

Why the second and not the first: the first of the performers' list holds every task it took
itself and is the one the outbox tries first, so restarting it would show the resume only (which
the chaos run ``kill-aggregator`` already shows for a lone aggregator); the second shows both the
resume of tasks forwarded to it and the outbox moving on past a dead aggregator. Restarting each
in turn would take a second network, doubling the test's time for little more.

Why the kill waits until the second aggregator holds the tasks: an aggregator answers the
performer, then forwards the task in the background (docs/decisions/0016-several-aggregators.md).
A task it took and had not yet forwarded when it died lives only in its own store (and the
performer's outbox has it as accepted): it lands when that aggregator comes back, not through
another one. That window is the design's, not what this test is about.
"""

from __future__ import annotations

import concurrent.futures
import sqlite3
import time
from dataclasses import dataclass, field

import pytest

from othentic_offchain.devnet.devnet import Devnet, DevnetAggregator, DevnetOptions
from othentic_offchain.devnet.http import post_json
from othentic_offchain.examples.devnet import GENERIC, PRICE_ORACLE
from othentic_offchain.jsonrpc import BlockingJsonRpcClient, JsonRpcError
from othentic_offchain.nodes.aggregator.config import UNKNOWN_TASK
from tests.devnet.landings import landings

pytestmark = pytest.mark.slow

#: Triggered while every aggregator is up (each price pair once: a pair quoted twice in the same
#: second would be the same task).
BEFORE = [
    (GENERIC, {"text": "restart test 0: triggered before the kill"}),
    (GENERIC, {"text": "restart test 1: triggered before the kill"}),
    (PRICE_ORACLE, {"pair": "ETH-USD"}),
    (PRICE_ORACLE, {"pair": "BTC-USD"}),
]
#: Triggered while every aggregator is down.
DURING = [
    (GENERIC, {"text": "restart test 2: triggered while every aggregator is down"}),
    (GENERIC, {"text": "restart test 3: triggered while every aggregator is down"}),
    (PRICE_ORACLE, {"pair": "SOL-USD"}),
]
LANDING_TIMEOUT = 90.0


@dataclass
class Triggered:
    definition: int
    params: dict
    status: int
    body: dict

    @property
    def task_hash(self) -> str:
        return self.body["taskHash"].lower()


@dataclass
class Run:
    net: Devnet
    restarted: DevnetAggregator
    before: list[Triggered]
    during: list[Triggered]
    first_block: int
    kill_block: int  # the head once all three were dead: what landed by then landed before the kill
    last_block: int
    events: list = field(default_factory=list)  # every TaskSubmitted/TaskRejected of the run
    seconds_to_land: float = 0.0  # from the restart until the last task landed

    @property
    def triggered(self) -> list[Triggered]:
        return self.before + self.during


def _trigger(net: Devnet, definition: int, params: dict) -> Triggered:
    status, body = post_json(f"{net.performer_urls[definition]}/performer/v1/trigger", {"params": params})
    return Triggered(definition, params, status, body)


def _hash_of(log) -> str:
    return "0x" + bytes(log["args"]["taskHash"]).hex()


def _hashes_landed_by(run: Run, block: int) -> set[str]:
    return {_hash_of(log) for log in run.events if log["blockNumber"] <= block}


def _wait_until_held(url: str, hashes: list[str], timeout: float = 20.0) -> None:
    """Until the aggregator at ``url`` knows every one of ``hashes`` (forwarded to it)."""
    client = BlockingJsonRpcClient(url, timeout=10.0)
    deadline = time.monotonic() + timeout
    missing = list(hashes)
    while missing:
        try:
            client.call("taskStatus", [missing[0]])
            missing.pop(0)
            continue
        except JsonRpcError as exc:
            if exc.code != UNKNOWN_TASK:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} was not forwarded {missing} within {timeout:g} s")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    options = DevnetOptions(
        operators=6,
        tasks=len(BEFORE) + len(DURING),
        aggregators=3,
        kill_aggregators=0,
        lying_share=0,
        state_dir=tmp_path_factory.mktemp("devnet"),
    )
    net = Devnet(options)
    try:
        net.start()
        w3 = net.net.w3
        first, second, _third = net.aggregators
        first_block = int(w3.eth.block_number)
        with concurrent.futures.ThreadPoolExecutor(len(BEFORE)) as pool:
            before = list(pool.map(lambda spec: _trigger(net, *spec), BEFORE))
        assert all(t.status == 200 for t in before), [(t.status, t.body) for t in before]
        _wait_until_held(second.url, [t.task_hash for t in before])
        for aggregator in net.aggregators:
            net.kill_aggregator(aggregator.name)
        kill_block = int(w3.eth.block_number)
        during = [_trigger(net, *spec) for spec in DURING]
        restarted_at = time.monotonic()
        net.restart_aggregator(second.name)
        result = Run(net, second, before, during, first_block, kill_block, kill_block)
        wanted = {t.task_hash for t in result.triggered}
        deadline = time.monotonic() + LANDING_TIMEOUT
        while True:
            result.last_block = int(w3.eth.block_number)
            result.events = landings(net, first_block, result.last_block)
            if wanted <= {_hash_of(log) for log in result.events}:
                break
            assert time.monotonic() < deadline, (
                f"not landed within {LANDING_TIMEOUT:g} s of the restart: "
                f"{sorted(wanted - {_hash_of(log) for log in result.events})}; logs in {net.state / 'logs'}"
            )
            time.sleep(0.25)
        result.seconds_to_land = time.monotonic() - restarted_at
        yield result
    finally:
        net.stop()


def test_tasks_are_forwarded_and_those_triggered_while_every_aggregator_is_down_are_kept(run):
    first = run.net.aggregators[0]
    assert [t.body["status"] for t in run.before] == ["sent"] * len(BEFORE)
    assert {t.body["aggregatorUrl"] for t in run.before} == {first.url}  # the first of the list took them
    assert [(t.status, t.body["status"]) for t in run.during] == [(202, "queued")] * len(DURING), [
        t.body for t in run.during
    ]
    assert len({t.task_hash for t in run.triggered}) == len(BEFORE) + len(DURING)


def test_every_task_open_at_the_kill_lands_exactly_once_after_one_aggregator_restarts(run):
    per_task: dict[str, int] = {}
    for log in run.events:
        per_task[_hash_of(log)] = per_task.get(_hash_of(log), 0) + 1
    assert {t.task_hash: per_task.get(t.task_hash) for t in run.triggered} == {t.task_hash: 1 for t in run.triggered}
    assert set(per_task.values()) == {1}  # the beacon rounds queued during the outage too: none twice
    open_at_kill = [t for t in run.before if t.task_hash not in _hashes_landed_by(run, run.kill_block)]
    assert open_at_kill, "every task landed before the kill: nothing was left open to resume"


def test_every_landing_after_the_kill_is_the_restarted_aggregators(run):
    account = run.restarted.operator.account
    after_kill = [log for log in run.events if log["blockNumber"] > run.kill_block]
    assert after_kill and {log["args"]["aggregator"] for log in after_kill} == {account}
    landed_by_restarted = {_hash_of(log) for log in after_kill}
    assert {t.task_hash for t in run.during} <= landed_by_restarted
    assert {t.task_hash for t in run.before} - _hashes_landed_by(run, run.kill_block) <= landed_by_restarted


def test_the_outboxes_failed_over_past_the_dead_first_aggregator_to_the_restarted_one(run):
    rows = {}
    for name in ("generic", "price"):
        with sqlite3.connect(run.net.state / f"outbox-{name}.sqlite3") as db:
            for task_hash, status, aggregator, attempts in db.execute(
                "SELECT task_hash, status, aggregator, attempts FROM outbox"
            ):
                rows["0x" + bytes(task_hash).hex()] = (status, aggregator, attempts > 0)
    assert {t.task_hash: rows[t.task_hash] for t in run.during} == {
        t.task_hash: ("accepted", run.restarted.url, True) for t in run.during
    }


def test_the_restarted_aggregator_says_it_landed_what_it_resumed_and_what_it_was_sent(run):
    client = BlockingJsonRpcClient(run.restarted.url, timeout=10.0)
    numbers = {_hash_of(log): log["args"]["taskNumber"] for log in run.events}
    deadline = time.monotonic() + 10  # its own bookkeeping follows the receipt, or the taskRecord
    statuses: dict[str, tuple] = {}
    while time.monotonic() < deadline:
        statuses = {}
        for t in run.triggered:
            answer = client.call("taskStatus", [t.task_hash])
            statuses[t.task_hash] = (answer["status"], answer["taskNumber"])
        if all(status == "landed" for status, _ in statuses.values()):
            break
        time.sleep(0.2)
    assert statuses == {t.task_hash: ("landed", numbers[t.task_hash]) for t in run.triggered}


def test_the_devnet_reports_who_was_killed_and_who_restarted(run):
    net = run.net
    first, second, third = net.aggregators
    assert (first.status, second.status, third.status) == ("killed", "killed, restarted", "killed")
    assert second.restarted_at is not None and second.killed_at is not None
    assert second.restarted_at > second.killed_at
    processes = net.net.supervisor.processes
    assert [processes[a.name].running for a in net.aggregators] == [False, True, False]
