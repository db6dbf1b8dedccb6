"""A project's optional on-chain hook (``[hook]`` of ``othentic.toml``): compiled, deployed, set.

The hook is a contract with ``IAvsLogic``'s two functions and a constructor taking the attestation
center's address. It is compiled with whatever Solidity compiler the builder has (``solc`` on
``PATH``, or ``$SOLC``: native solc or any wrapper speaking ``--standard-json``), so the package
needs none: a project without ``[hook]`` never looks for one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from othentic_offchain.project.config import ProjectError

__all__ = ["compile_hook", "find_solc"]


def find_solc(configured: str | None = None) -> str:
    """The compiler: ``[hook] solc``, else ``$SOLC``, else ``solc`` on PATH."""
    candidate = configured or os.environ.get("SOLC") or shutil.which("solc")
    if not candidate or not (Path(candidate).is_file() and os.access(candidate, os.X_OK)):
        raise ProjectError(
            "[hook] needs a Solidity compiler: put solc on PATH or set $SOLC to one "
            "(https://docs.soliditylang.org/en/latest/installing-solidity.html), or remove [hook] from othentic.toml"
        )
    return candidate


def compile_hook(root: Path, source: str, contract: str, solc: str) -> tuple[list[dict[str, Any]], str]:
    """``(abi, bytecode)`` of ``contract`` in ``source`` (relative to ``root``), via standard JSON."""
    path = (root / source).resolve()
    if not path.is_file():
        raise ProjectError(f"[hook] source {source} does not exist in {root}")
    request = {
        "language": "Solidity",
        "sources": {source: {"content": path.read_text()}},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    try:
        done = subprocess.run(
            [solc, "--standard-json", "--base-path", str(root)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            cwd=root,
            timeout=300,
        )
        output = json.loads(done.stdout)
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        raise ProjectError(f"[hook] {solc} did not compile {source}: {exc}") from exc
    errors = [e.get("formattedMessage", e.get("message")) for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise ProjectError(f"[hook] {source} does not compile:\n" + "\n".join(errors))
    compiled = output.get("contracts", {}).get(source, {})
    if contract not in compiled:
        raise ProjectError(f"[hook] {source} has no contract {contract!r} (it has {', '.join(compiled) or 'none'})")
    return compiled[contract]["abi"], "0x" + compiled[contract]["evm"]["bytecode"]["object"]
