"""The percentiles ``othentic devnet`` and the throughput bench print (othentic_offchain/devnet/stats.py)."""

from __future__ import annotations

import math
import statistics

import pytest

from othentic_offchain.devnet.stats import median, percentile


def test_percentiles_are_the_standard_librarys_inclusive_quantiles():
    values = [0.31, 0.12, 0.5, 0.09, 2.4, 0.2, 0.17, 0.11, 0.13, 0.4]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    for q in (1, 50, 95, 99):
        assert percentile(values, q) == cuts[q - 1]
    assert percentile(values, 50) == pytest.approx(statistics.median(values))
    assert percentile(values, 0) == min(values) and percentile(values, 100) == max(values)


def test_percentile_and_median_of_few_values():
    assert math.isnan(percentile([], 95)) and math.isnan(median([]))
    assert percentile([0.7], 95) == 0.7 and median([0.7]) == 0.7
    assert percentile([1.0, 3.0], 50) == 2.0


def test_percentile_refuses_what_is_not_a_whole_percent():
    for q in (-1, 101, 95.5):
        with pytest.raises(ValueError):
            percentile([1.0, 2.0], q)
