"""Faults a real chain produces, one per test, against a whole network on an interval-mining anvil
(``othentic_offchain/devnet/chaos.py``: the quick version of ``python bench/chaos.py``).

The network is its own (not the ``network`` of the other end-to-end tests: anvil mines a block a
second here, the aggregator runs with ``--finality 5``, and it and the performer reach the chain
through a relay that fails on command), shared by this module's tests and stopped after the last.
Each test runs one fault while tasks keep arriving and checks the invariants, counted from the
chain: every accepted task has its ``taskRecord`` (none lost), none has two landing events, and
every one is final (the aggregator says so and the record is five blocks deep) once the fault
cleared. Timings are the bench's to report, not asserted.
"""

from __future__ import annotations

import pytest

from othentic_offchain.devnet.chaos import FAULTS, QUICK, ChaosNetwork

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chaos(tmp_path_factory) -> ChaosNetwork:
    with ChaosNetwork(tmp_path_factory.mktemp("chaos")) as network:
        yield network


@pytest.mark.parametrize("fault", list(FAULTS))
def test_under_the_fault_every_accepted_task_lands_once_and_becomes_final(chaos: ChaosNetwork, fault: str):
    result = chaos.run(fault, QUICK)
    assert result.accepted > 0, f"no task accepted: {result.notes}"
    assert result.lost == 0, f"{result.lost} accepted tasks have no taskRecord: {result.not_final}"
    assert result.landed_twice == 0
    assert result.landed == result.accepted
    assert result.final == result.accepted, f"not final once the fault cleared: {result.not_final}"
    assert result.problems() == []
