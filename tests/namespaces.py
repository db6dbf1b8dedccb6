"""The mark of tests that make network namespaces (othentic_offchain.devnet.wan): root and `ip`
only, skipped elsewhere with the reason."""

from __future__ import annotations

import pytest

from othentic_offchain.devnet.wan import WanUnavailable, check_available


def _why_not() -> str:
    try:
        check_available()
    except WanUnavailable as exc:
        return str(exc)
    return ""


REASON = _why_not()

needs_namespaces = pytest.mark.skipif(bool(REASON), reason=REASON or "-")
