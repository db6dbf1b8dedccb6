"""What the devnet's summary says of each of several aggregators: running, killed, restarted."""

from __future__ import annotations

import pytest

from othentic_offchain.crypto.keys import derive_bls_key
from othentic_offchain.devnet.devnet import DevnetAggregator
from othentic_offchain.devnet.network import Operator, operator_keys

KEY = operator_keys("status test", 1)[0]


@pytest.mark.parametrize(
    ("killed_after", "killed_at", "restarted_at", "status"),
    [
        (None, None, None, "running"),
        (4, 100.0, None, "killed after 4 tasks"),  # by the workload of --kill-aggregators
        (None, 100.0, None, "killed"),  # by hand (Devnet.kill_aggregator), no workload running
        (None, 100.0, 105.0, "killed, restarted"),
        (4, 100.0, 105.0, "killed after 4 tasks, restarted"),
    ],
)
def test_an_aggregators_status_says_whether_it_was_killed_and_restarted(killed_after, killed_at, restarted_at, status):
    aggregator = DevnetAggregator(
        Operator(KEY, 10, derive_bls_key(KEY)),
        "aggregator-4",
        "http://127.0.0.1:1",
        1,
        killed_after=killed_after,
        killed_at=killed_at,
        restarted_at=restarted_at,
    )
    assert aggregator.status == status
