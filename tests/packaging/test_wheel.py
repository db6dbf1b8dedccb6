"""The package as an operator installs it: a wheel built from this checkout, in a fresh virtualenv.

The fixture builds the wheel from a copy of the sources (setuptools reuses an in-tree ``build/``
folder, which could smuggle stale modules into a wheel built in place), creates a virtualenv in a
temporary folder outside the checkout and installs the wheel there with the versions pinned in
``requirements.lock`` (pip may download from the package index; its cache is used). The tests then
run that install from an empty folder with nothing of the checkout in sight: no ``PYTHONPATH``, no
``OTHENTIC_PROJECT_ROOT``, a ``PATH`` of the new virtualenv's ``bin`` and a folder holding only anvil.
They check that the runtime needs neither Ape nor the contract project: the ABIs, the bytecode and
the examples ship inside the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "othentic_offchain"
pytestmark = pytest.mark.slow

#: Modules an operator's machine imports: none of them may pull Ape in.
RUNTIME_MODULES = (
    "othentic_offchain.nodes.aggregator",
    "othentic_offchain.nodes.attester",
    "othentic_offchain.nodes.performer",
    "othentic_offchain.cli",
    "othentic_offchain.devnet.devnet",
    "othentic_offchain.dashboard",
    "othentic_offchain.chain.deploy",
    "othentic_offchain.avs",
    "othentic_offchain.proofs",
)

#: Variables that could point the install back at the checkout, or change how Python or pip behave.
_LEAKY_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "OTHENTIC_PROJECT_ROOT")


@dataclass(frozen=True)
class LeanInstall:
    """A virtualenv holding the wheel and its pinned runtime dependencies, and nothing else."""

    wheel: Path
    venv: Path
    anvil_dir: Path  # a folder with nothing in it but a link to the anvil binary
    home: Path
    workdir: Path  # empty, outside the checkout

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def env(self) -> dict[str, str]:
        """A clean environment: the new virtualenv and anvil on PATH, a private HOME, nothing else."""
        return {"PATH": f"{self.bin}{os.pathsep}{self.anvil_dir}", "HOME": str(self.home), "LC_ALL": "C.UTF-8"}

    def run(
        self, *args: str | os.PathLike, cwd: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a command of the install from ``cwd`` (default: the empty work folder), environment clean."""
        return subprocess.run(
            [str(a) for a in args],
            cwd=cwd or self.workdir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _outer_env() -> dict[str, str]:
    """This process's environment without what would make pip or Python look at the checkout."""
    return {k: v for k, v in os.environ.items() if k not in _LEAKY_VARIABLES}


def _check(cmd: list[str | os.PathLike], cwd: Path, timeout: float) -> None:
    result = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=_outer_env(), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"


def build_wheel(out: Path) -> Path:
    """Build the wheel from a copy of the package sources (no build isolation: setuptools is pinned)."""
    src = out / "src"
    shutil.copytree(ROOT / PACKAGE, src / PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    dist = out / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check"]
    _check([*pip_wheel, "--no-deps", "--no-build-isolation", "--wheel-dir", dist, src], cwd=out, timeout=300)
    (wheel,) = dist.glob("othentic_offchain-*.whl")
    return wheel


@pytest.fixture(scope="session")
def lean_install(tmp_path_factory: pytest.TempPathFactory) -> LeanInstall:
    base = tmp_path_factory.mktemp("lean-install")
    assert ROOT not in base.parents, "the install must live outside the checkout"
    wheel = build_wheel(base)

    venv = base / "venv"
    _check([sys.executable, "-m", "venv", venv], cwd=base, timeout=300)
    pip_install = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _check([*pip_install, "--constraint", ROOT / "requirements.lock", wheel], cwd=base, timeout=1800)

    found = shutil.which("anvil")
    assert found, "anvil is not on PATH (make setup links it into .venv/bin)"
    anvil_dir = base / "anvil-bin"
    anvil_dir.mkdir()
    (anvil_dir / "anvil").symlink_to(Path(found).resolve())
    home = base / "home"
    home.mkdir()
    workdir = base / "empty"
    workdir.mkdir()
    return LeanInstall(wheel=wheel, venv=venv, anvil_dir=anvil_dir, home=home, workdir=workdir)


def test_the_wheel_ships_the_contract_artifacts_the_examples_and_the_dashboard_page(lean_install):
    names = set(zipfile.ZipFile(lean_install.wheel).namelist())
    artifacts = sorted((ROOT / PACKAGE / "chain" / "contracts").glob("*.json"))
    assert artifacts, "the checkout has no packaged artifacts (make artifacts)"
    for path in artifacts:
        assert f"{PACKAGE}/chain/contracts/{path.name}" in names
    examples = sorted((ROOT / PACKAGE / "examples").rglob("*.py"))
    assert examples
    for path in examples:
        assert path.relative_to(ROOT).as_posix() in names
    page = sorted((ROOT / PACKAGE / "dashboard" / "static").iterdir())
    assert {p.name for p in page} >= {"index.html", "dashboard.js", "dashboard.css"}
    for path in page:
        assert path.relative_to(ROOT).as_posix() in names
    assert not any("__pycache__" in name or name.startswith(("tests/", "contracts/")) for name in names)


def test_the_install_imports_from_the_virtualenv_and_never_imports_ape(lean_install):
    probe = (
        "import importlib, json, sys\n"
        f"for name in {RUNTIME_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "import othentic_offchain\n"
        "ape = sorted(m for m in sys.modules if m == 'ape' or m.startswith(('ape.', 'ape_')))\n"
        "print(json.dumps({'file': othentic_offchain.__file__, 'ape': ape}))\n"
    )
    result = lean_install.run(lean_install.python, "-c", probe)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["ape"] == []
    assert Path(seen["file"]).resolve().is_relative_to(lean_install.venv.resolve())

    shown = lean_install.run(lean_install.python, "-m", "pip", "show", "eth-ape")
    assert shown.returncode != 0 and "Name: eth-ape" not in shown.stdout


def test_othentic_devnet_runs_from_an_empty_folder_with_only_the_installed_wheel(lean_install, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = lean_install.run("othentic", "devnet", "--operators", "4", "--tasks", "3", cwd=empty, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "All 3 tasks landed." in result.stdout
    assert (empty / ".devnet" / "deployment.json").exists()  # the default state dir, in the folder it ran from
