"""The pytest plugin of ``othentic-offchain`` (entry point ``pytest11``): fixtures for AVS projects.

Importing this module costs nothing: each fixture imports what it needs when a test asks for it,
so the plugin stays out of the way of test suites that do not use it. See
:mod:`othentic_offchain.testing` for the fixtures.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def avs_project(pytestconfig: pytest.Config):
    """The AVS project under test: ``othentic.toml`` found upward from pytest's root folder."""
    from othentic_offchain.project import find_project

    project = find_project(Path(str(pytestconfig.rootpath)))
    if project is None:
        pytest.fail(f"no othentic.toml in {pytestconfig.rootpath} or above: run the tests inside an AVS project")
    return project


@pytest.fixture
def avs_local(avs_project):
    """The project's AVS, its functions called by definition name (an ``AvsHarness``; no chain)."""
    from othentic_offchain.avs import load_avs
    from othentic_offchain.testing import AvsHarness

    avs = load_avs(avs_project.avs_reference)
    definitions = {name: i + 1 for i, name in enumerate(avs_project.definitions)}
    return AvsHarness(avs, config=avs_project.settings.project.config, definitions=definitions)


@pytest.fixture(scope="session")
def avs_network(avs_project, tmp_path_factory: pytest.TempPathFactory):
    """The project on a throwaway local network (one per session), a ``ProjectDevnet``:
    ``avs_network.send("name", params)`` triggers the definition's performer and returns the
    landed ``TaskOutcome``. Its logs are in ``avs_network.state / "logs"``."""
    from othentic_offchain.project.devnet import ProjectDevnet

    network = ProjectDevnet(avs_project, state_dir=tmp_path_factory.mktemp("avs-network"))
    try:
        network.start()
        yield network
    finally:
        network.stop()
