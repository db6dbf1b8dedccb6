"""The fake price source, started once for the unit tests (the network starts its own)."""

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def price_source():
    proc = subprocess.Popen(
        [sys.executable, str(PROJECT / "price_source.py"), "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()  # "price source listening on URL"
        assert "listening on" in line, line
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait()


@pytest.fixture
def prices(avs_local, price_source):
    """The AVS's functions (avs_local) reading the fake source."""
    avs_local.avs.config["price_source"] = price_source
    return avs_local
