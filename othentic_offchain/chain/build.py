"""The contract project's build, for development tools only (tests, ``make artifacts``).

Nothing that operators run imports this module: the nodes, the CLI and the devnet read the
artifacts shipped inside the package (:mod:`othentic_offchain.chain.artifacts`). This module reads
the build of the Solidity project in a checkout, which Ape writes to ``.build/__local__.json``
(``contractTypes[<name>]`` holds ``abi``, ``deploymentBytecode.bytecode`` and
``runtimeBytecode.bytecode``), compiles it with ``ape compile`` when a source changed, and exports
the deployable contracts into the package (:func:`export_artifacts`).

The project root is found by walking up from the current directory to ``ape-config.yaml`` (or from
``$OTHENTIC_PROJECT_ROOT``, or the checkout this package lives in).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from othentic_offchain.chain.artifacts import (
    ARTIFACTS_DIR,
    PACKAGED_CONTRACTS,
    ArtifactsNotFound,
    ContractArtifact,
    ContractNotFound,
)

MANIFEST = Path(".build") / "__local__.json"
PROJECT_MARKER = "ape-config.yaml"
ROOT_ENV = "OTHENTIC_PROJECT_ROOT"
#: OpenZeppelin's compiled ERC-20 interface, from the pinned npm package (the stake and reward tokens).
OPENZEPPELIN_IERC20 = Path("node_modules/@openzeppelin/contracts/build/contracts/IERC20.json")


def find_project_root(start: str | os.PathLike | None = None) -> Path:
    """The folder holding ``ape-config.yaml``.

    Order: ``$OTHENTIC_PROJECT_ROOT``; ``start`` (default: the current directory) and its parents;
    the checkout this package was installed from (editable install).
    """
    env = os.environ.get(ROOT_ENV)
    if env and start is None:
        root = Path(env).expanduser().resolve()
        if not (root / PROJECT_MARKER).is_file():
            raise ArtifactsNotFound(f"${ROOT_ENV}={env} has no {PROJECT_MARKER}")
        return root
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder
    package_checkout = Path(__file__).resolve().parents[2]
    if start is None and (package_checkout / PROJECT_MARKER).is_file():
        return package_checkout
    raise ArtifactsNotFound(
        f"no {PROJECT_MARKER} in {here} or any parent folder: run from the project checkout or set ${ROOT_ENV}"
    )


def manifest_path(root: str | os.PathLike | None = None) -> Path:
    """``<project root>/.build/__local__.json`` (whether or not it exists)."""
    return (Path(root) if root is not None else find_project_root()) / MANIFEST


def _sources(root: Path) -> list[Path]:
    contracts = root / "contracts"
    return [p for p in contracts.rglob("*.sol") if ".cache" not in p.parts] if contracts.is_dir() else []


def is_stale(root: str | os.PathLike | None = None) -> bool:
    """Whether the build is missing or older than a Solidity source of the project."""
    root = Path(root) if root is not None else find_project_root()
    manifest = manifest_path(root)
    if not manifest.is_file():
        return True
    built = manifest.stat().st_mtime
    return any(source.stat().st_mtime > built for source in _sources(root))


def _ape_command() -> str:
    beside_python = Path(sys.executable).with_name("ape")
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("ape")
    if not found:
        raise ArtifactsNotFound("the `ape` command is not installed: install othentic-offchain[dev] (`make setup`)")
    return found


def compile_project(root: str | os.PathLike | None = None) -> Path:
    """Run ``ape compile`` in the project (with its offline solc and data folder); return the manifest."""
    root = Path(root) if root is not None else find_project_root()
    env = dict(os.environ)
    env.setdefault("SOLCX_BINARY_PATH", str(root / ".solcx"))
    env.setdefault("APE_DATA_FOLDER", str(root / ".ape"))
    venv_bin = root / ".venv" / "bin"
    if venv_bin.is_dir():
        env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        # --force: Ape recompiles a changed file but not the files importing it, which would leave a
        # module built against an old storage layout beside a center built against the new one.
        [_ape_command(), "compile", "--force"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    manifest = manifest_path(root)
    if result.returncode != 0 or not manifest.is_file():
        output = (result.stdout + result.stderr).strip()
        raise ArtifactsNotFound(
            f"`ape compile` failed in {root} (exit {result.returncode}); run `make setup` first.\n{output}"
        )
    # Ape compares source checksums and leaves the manifest alone when no content changed (after a
    # `touch` or a checkout): mark it as current so that is_stale() does not re-run ape every time.
    os.utime(manifest)
    _CACHE.pop(manifest, None)
    return manifest


def ensure_compiled(root: str | os.PathLike | None = None, *, force: bool = False) -> Path:
    """The manifest, after running ``ape compile`` if it is missing or older than a source (or ``force``)."""
    root = Path(root) if root is not None else find_project_root()
    if force or is_stale(root):
        return compile_project(root)
    return manifest_path(root)


_CACHE: dict[Path, tuple[float, dict]] = {}


def load_manifest(root: str | os.PathLike | None = None) -> dict:
    """The parsed build manifest (cached until the file changes)."""
    path = manifest_path(root)
    if not path.is_file():
        raise ArtifactsNotFound(
            f"{path} does not exist: the contracts are not compiled. Run `ape compile` (or `make setup`)."
        )
    mtime = path.stat().st_mtime
    cached = _CACHE.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    manifest = json.loads(path.read_text())
    _CACHE[path] = (mtime, manifest)
    return manifest


def contract_names(root: str | os.PathLike | None = None) -> list[str]:
    return sorted(load_manifest(root).get("contractTypes", {}))


def _bytecode(contract_type: dict, key: str) -> str:
    value = contract_type.get(key) or {}
    code = value.get("bytecode") if isinstance(value, dict) else value
    if not code or code == "0x":
        return ""
    return code if code.startswith("0x") else "0x" + code


def build_artifact(name: str, root: str | os.PathLike | None = None) -> ContractArtifact:
    """ABI and bytecode of contract ``name`` from the project's build (test contracts included)."""
    types = load_manifest(root).get("contractTypes", {})
    if name not in types:
        raise ContractNotFound(
            f"no contract {name!r} in {manifest_path(root)}; compiled contracts: {', '.join(sorted(types)) or 'none'}"
        )
    contract_type = types[name]
    return ContractArtifact(
        name=name,
        abi=contract_type.get("abi", []),
        bytecode=_bytecode(contract_type, "deploymentBytecode"),
        runtime_bytecode=_bytecode(contract_type, "runtimeBytecode"),
        source_id=contract_type.get("sourceId"),
    )


def _openzeppelin_artifact(root: Path, name: str) -> ContractArtifact:
    path = root / OPENZEPPELIN_IERC20
    if not path.is_file():
        raise ArtifactsNotFound(f"{path} is missing: run `make setup` (npm ci installs OpenZeppelin)")
    data = json.loads(path.read_text())
    return ContractArtifact(
        name=name, abi=data["abi"], bytecode="", runtime_bytecode="", source_id=str(OPENZEPPELIN_IERC20)
    )


def expected_artifacts(root: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """What the package must ship, as freshly built from ``contracts/``: ``{file name: JSON}``."""
    root = Path(root) if root is not None else find_project_root()
    out: dict[str, dict[str, Any]] = {}
    for name in PACKAGED_CONTRACTS:
        artifact = _openzeppelin_artifact(root, name) if name == "IERC20" else build_artifact(name, root)
        out[f"{name}.json"] = artifact.to_json()
    return out


def export_artifacts(root: str | os.PathLike | None = None, dest: Path = ARTIFACTS_DIR) -> list[Path]:
    """Write the packaged artifacts from the build (``make artifacts``); returns the files written.

    Files of contracts no longer packaged are removed, so the folder is exactly the expected set."""
    expected = expected_artifacts(root)
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.glob("*.json"):
        if stale.name not in expected:
            stale.unlink()
    written = []
    for file_name, data in expected.items():
        path = dest / file_name
        path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        written.append(path)
    return written
