"""A devnet with its operators' hosts apart (a network namespace each, every link between operators
through the delaying relay), three aggregators on the on-chain schedule, and one aggregator's host
partitioned from the others for a while, then healed.

While it is cut off, every task still lands exactly once, landed by the two others (the partitioned
one reaches no other operator, and no performer reaches it; the chain it still sees); once healed,
it lands tasks on its turns again, and nothing lands twice. Real namespaces, real processes: root only, skipped elsewhere with the reason."""

from __future__ import annotations

from collections import Counter

import pytest

from othentic_offchain.devnet.chaos import LandingWatcher
from othentic_offchain.devnet.devnet import Devnet, DevnetOptions
from othentic_offchain.devnet.wan import LinkProfile
from othentic_offchain.devnet.workload import plan, run_workload
from tests.devnet.landings import landings
from tests.namespaces import needs_namespaces

pytestmark = [pytest.mark.slow, needs_namespaces]

TASKS = 15  # per phase
RATE = 3.0  # tasks per second


@pytest.fixture(scope="module")
def devnet(tmp_path_factory):
    options = DevnetOptions(
        operators=6,
        tasks=0,
        aggregators=3,
        lying_share=0.0,
        state_dir=tmp_path_factory.mktemp("wan"),
        wan=LinkProfile(20, 80, jitter_ms=5, machine_ms=2, seed=5),
        rate=RATE,
    )
    net = Devnet(options)
    try:
        net.start()
        yield net
    finally:
        net.stop()


def _phase(net: Devnet, label: str) -> tuple[list, int, int]:
    """Trigger a phase's tasks at the steady rate and follow each to its landing event: the runs,
    and the phase's first and last block."""
    w3, center = net.net.w3, net.net.avs.center
    first = int(w3.eth.block_number) + 1
    watcher = LandingWatcher(w3, center.address, first, interval=0.1).start()
    try:
        runs = plan(TASKS, 0.0)
        for run in runs:  # the generic tasks distinct from the other phase's (the same text is the same task)
            if "text" in run.params:
                run.params = {"text": f"{label}: {run.params['text']}"}
        run_workload(
            runs,
            performer_urls=net.performer_urls,
            aggregator_url=net.aggregator_url,
            concurrency=TASKS,
            rate=RATE,
            task_timeout=60,
            progress=lambda text: None,
            landings=watcher,
        )
    finally:
        watcher.stop()
    return runs, first, int(w3.eth.block_number)


@pytest.fixture(scope="module")
def phases(devnet):
    """Phase one with the second aggregator's host partitioned, phase two after healing it."""
    victim = devnet.aggregators[1]
    host = devnet.host(victim.operator)
    relay = devnet.wan.relay
    relay.partition(host)
    try:
        cut = _phase(devnet, "cut")
        refused = relay.counts["refused"]
    finally:
        relay.heal(host)
    healed = _phase(devnet, "healed")
    return victim, cut, healed, refused


def test_every_task_lands_exactly_once_while_an_aggregator_is_partitioned(devnet, phases):
    _victim, (runs, first, last), _healed, refused = phases
    assert [r.status for r in runs] == ["landed"] * TASKS, [r.error for r in runs]
    counts = Counter("0x" + bytes(log["args"]["taskHash"]).hex() for log in landings(devnet, first, last))
    assert all(counts["0x" + r.task_hash.lower().removeprefix("0x")] == 1 for r in runs), counts
    assert refused > 0  # the partition did cut connections


def test_the_partitioned_aggregator_lands_nothing_and_the_others_land_its_turns(devnet, phases):
    victim, (runs, first, last), _healed, _refused = phases
    senders = Counter(log["args"]["aggregator"] for log in landings(devnet, first, last))
    assert senders[victim.operator.account] == 0
    others = {a.operator.account for a in devnet.aggregators if a is not victim}
    assert sum(senders[account] for account in others) >= TASKS


def test_once_healed_it_lands_tasks_on_its_turns_again_and_nothing_lands_twice(devnet, phases):
    victim, (cut_runs, cut_first, _), (runs, first, last), _refused = phases
    assert [r.status for r in runs] == ["landed"] * TASKS, [r.error for r in runs]
    logs = landings(devnet, first, last)
    assert any(log["args"]["aggregator"] == victim.operator.account for log in logs)
    every = Counter("0x" + bytes(log["args"]["taskHash"]).hex() for log in landings(devnet, cut_first, last))
    assert set(every.values()) == {1}  # the healed aggregator's old tasks were skipped, not sent again
