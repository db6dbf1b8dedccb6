"""Percentiles and medians of latencies, as ``othentic devnet`` and the throughput bench print them.

Both are the standard library's (:mod:`statistics`); an empty list gives ``nan``, shown as "-"
or "nan" by the tables rather than an exception in the middle of a report.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (``q`` a whole number from 0 to 100), interpolated between the two
    nearest values (``statistics.quantiles(..., method="inclusive")``: 50 is the median, 0 the
    smallest value, 100 the largest)."""
    data = sorted(values)
    if q != int(q) or not 0 <= q <= 100:
        raise ValueError(f"percentile {q!r}: expected a whole number from 0 to 100")
    if not data:
        return math.nan
    if q == 0 or len(data) == 1:
        return float(data[0])
    if q == 100:
        return float(data[-1])
    return statistics.quantiles(data, n=100, method="inclusive")[int(q) - 1]


def median(values: Iterable[float]) -> float:
    """The median; ``nan`` for no values."""
    data = list(values)
    return statistics.median(data) if data else math.nan
