"""What the nodes' SQLite files share: creating a schema once, in one transaction."""

from __future__ import annotations

import sqlite3


def apply_schema(db: sqlite3.Connection, schema: str, version: int) -> None:
    """Run ``schema`` (statements separated by ``;``) and set ``user_version`` to ``version``, all
    in one ``BEGIN IMMEDIATE`` transaction: a crash leaves the file as it was."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in schema.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version={int(version)}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
