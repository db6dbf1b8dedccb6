"""Where a node keeps its SQLite record when not told: one fixed file per role, chain and account.

A path relative to the working folder would make a node started from another folder begin with
an empty record: for an attester, an empty slashing-protection record.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """``$XDG_DATA_HOME/othentic`` (default ``~/.local/share/othentic``), created if missing."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    folder = Path(base) / "othentic"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def node_db_path(given: str | os.PathLike | None, role: str, chain_id: int, address: str) -> Path:
    """``given`` (``--db``), else ``<data dir>/<role>-<chain id>-<address>.sqlite3``."""
    if given:
        return Path(given)
    return data_dir() / f"{role}-{chain_id}-{address}.sqlite3"
