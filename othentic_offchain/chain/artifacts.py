"""Compiled contracts from Ape's build (``.build/__local__.json``) and plain web3.py deployment.

Ape writes one manifest per project: ``contractTypes[<name>]`` holds ``abi``,
``deploymentBytecode.bytecode`` and ``runtimeBytecode.bytecode``. This module reads it directly, so
off-chain code (nodes, benches, the CLI) needs no Ape project loaded, only web3.py:

    artifact = load_artifact("BLSVerifier")                 # ABI + bytecode
    deployment = deploy(w3, artifact, private_key)          # one signed transaction
    deployment.contract.functions.hashToG1(digest).call()

The project root is found by walking up from the current directory to ``ape-config.yaml`` (or from
``$OTHENTIC_PROJECT_ROOT``, or the checkout this package lives in).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = Path(".build") / "__local__.json"
PROJECT_MARKER = "ape-config.yaml"
ROOT_ENV = "OTHENTIC_PROJECT_ROOT"


class ArtifactsNotFound(FileNotFoundError):
    """No compiled build: the project was never compiled, or compilation failed."""


class ContractNotFound(LookupError):
    """The build has no contract of that name (or it cannot be deployed: interface, unlinked library)."""


class DeploymentFailed(RuntimeError):
    """The deployment transaction was mined but reverted."""


# -- locating the build ----------------------------------------------------------------------------


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
        raise ArtifactsNotFound("the `ape` command is not installed: run `make setup`")
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
        [_ape_command(), "compile", "--force"], cwd=root, env=env, capture_output=True, text=True, check=False
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


# -- reading artifacts -----------------------------------------------------------------------------

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


@dataclass(frozen=True)
class ContractArtifact:
    name: str
    abi: list[dict[str, Any]] = field(repr=False)
    bytecode: str = field(repr=False)
    runtime_bytecode: str = field(repr=False)
    source_id: str | None = None

    @property
    def deployable(self) -> bool:
        return bool(self.bytecode) and "__$" not in self.bytecode

    def function_names(self) -> list[str]:
        return [item["name"] for item in self.abi if item.get("type") == "function"]

    def contract(self, w3, address: str | None = None):
        """A web3 contract object: the factory (no address) or an instance at ``address``."""
        if address is None:
            return w3.eth.contract(abi=self.abi, bytecode=self.bytecode)
        return w3.eth.contract(address=w3.to_checksum_address(address), abi=self.abi)


def load_artifact(name: str, root: str | os.PathLike | None = None) -> ContractArtifact:
    """ABI and bytecode of contract ``name`` from the compiled build."""
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


# -- deployment ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    name: str
    address: str
    contract: Any = field(repr=False)  # web3.contract.Contract
    receipt: Any = field(repr=False)

    @property
    def gas_used(self) -> int:
        return int(self.receipt["gasUsed"])


def deploy(
    w3,
    artifact: ContractArtifact | str,
    private_key: str | bytes,
    *constructor_args,
    root: str | os.PathLike | None = None,
    value: int = 0,
    gas: int | None = None,
    timeout: float = 120.0,
) -> Deployment:
    """Deploy with one transaction signed locally by ``private_key``; wait for it to be mined."""
    from eth_account import Account

    if isinstance(artifact, str):
        artifact = load_artifact(artifact, root)
    if not artifact.bytecode:
        raise ContractNotFound(f"{artifact.name} has no deployment bytecode (an interface or abstract contract?)")
    if "__$" in artifact.bytecode:
        raise ContractNotFound(f"{artifact.name} needs linked libraries, which deploy() does not link")
    account = Account.from_key(private_key)
    params: dict[str, Any] = {
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "value": value,
        "chainId": w3.eth.chain_id,
    }
    if gas is not None:
        params["gas"] = gas
    tx = artifact.contract(w3).constructor(*constructor_args).build_transaction(params)
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    if receipt["status"] != 1 or not receipt.get("contractAddress"):
        raise DeploymentFailed(f"deployment of {artifact.name} reverted (transaction {tx_hash.hex()})")
    address = receipt["contractAddress"]
    return Deployment(artifact.name, address, artifact.contract(w3, address), receipt)
