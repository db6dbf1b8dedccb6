"""`othentic init`: a project folder from each template, whose unit tests pass as created."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from othentic_offchain.cli import cli
from othentic_offchain.project import load_project
from othentic_offchain.project.scaffold import templates
from tests.examples._guide_runner import plugin_env


@pytest.mark.parametrize("template", templates())
def test_init_creates_a_project_whose_unit_tests_pass(tmp_path, monkeypatch, template):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["init", "demo-avs", "--template", template])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "demo-avs"
    project = load_project(folder)
    assert project.name == "demo-avs"
    assert (folder / ".gitignore").read_text().startswith(".devnet/")
    assert "{{" not in (folder / "avs.py").read_text() + (folder / "othentic.toml").read_text()
    # The unit tests (not the network one): pytest with the package's plugin, as an installed package has it.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"} | plugin_env(folder)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_avs.py",
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[:3000]
    assert " passed" in run.stdout


def test_init_refuses_an_existing_folder_a_bad_name_and_an_unknown_template(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").mkdir()
    runner = CliRunner()
    taken = runner.invoke(cli, ["init", "taken"])
    assert taken.exit_code == 1 and "already exists" in taken.output
    bad = runner.invoke(cli, ["init", "../escape"])
    assert bad.exit_code == 1 and "is not a project name" in bad.output
    unknown = runner.invoke(cli, ["init", "x", "--template", "nope"])
    assert unknown.exit_code == 2 and "'minimal'" in unknown.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
