"""``ape run deploy`` as a user runs it, for the tests of the deploy script (here and in tests/e2e)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ape_env(root: Path = ROOT) -> dict[str, str]:
    """The environment of ``make``: the project's solc and Ape folders, the virtualenv first on PATH."""
    return {
        **os.environ,
        "SOLCX_BINARY_PATH": str(root / ".solcx"),
        "APE_DATA_FOLDER": str(root / ".ape"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def ape_deploy(rpc_url: str, out: Path, *extra: str, root: Path = ROOT) -> subprocess.CompletedProcess:
    """``ape run deploy --network <rpc_url> --out <out> EXTRA`` in the project; output captured as text."""
    ape = Path(sys.executable).with_name("ape")
    return subprocess.run(
        [str(ape) if ape.exists() else "ape", "run", "deploy", "--network", rpc_url, "--out", str(out), *extra],
        cwd=root,
        env=ape_env(root),
        capture_output=True,
        text=True,
        timeout=300,
    )
