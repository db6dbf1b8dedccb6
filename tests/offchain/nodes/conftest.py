"""Module-scoped harness for the attester and performer tests (see node_harness.py)."""

import pytest

from tests.offchain.nodes.node_harness import Devnet, LoopThread


@pytest.fixture(scope="module")
def loop():
    """An event loop in a background thread, for nodes served in-process."""
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def devnet():
    """Anvil with the whole system deployed, once per test module."""
    net = Devnet.start()
    yield net
    net.stop()
