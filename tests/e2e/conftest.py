"""Fixtures of the end-to-end tests: one network of separate OS processes shared by every test of
this directory (see ``e2e_network.py`` for what runs and how to reach it).

The network lives from the first test here that asks for it to the last test of this directory in
the run, not to the end of the session: its thirteen processes would otherwise keep polling the
chain, on two shared cores, through the rest of the suite.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.e2e.e2e_network import Network, bring_up

HERE = Path(__file__).resolve().parent
_running: list[contextlib.ExitStack] = []


def _is_here(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).resolve().parents


@pytest.fixture(scope="session")
def network(tmp_path_factory) -> Network:
    stack = contextlib.ExitStack()
    _running.append(stack)
    try:
        yield stack.enter_context(bring_up(tmp_path_factory.mktemp("e2e-network")))
    finally:
        stack.close()


@pytest.fixture
def net(network: Network) -> Network:
    """The session's network with every node running before the test starts: a test that stops a
    node restarts it in its ``finally``, and this catches one that could not."""
    if network.anvil.pid is None:
        pytest.fail("the e2e network was already stopped: its tests must run one after the other")
    network.ensure_aggregator()
    network.ensure_attesters()
    return network


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """After the last test of this directory in the run, stop the network (anvil and every node)."""
    yield
    if not _running:
        return
    items = item.session.items
    later = items[items.index(item) + 1 :] if item in items else []
    if not any(_is_here(other) for other in later):
        while _running:
            _running.pop().close()
