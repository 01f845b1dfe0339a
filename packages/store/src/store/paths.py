"""Where group folders live: SWITCHBOARD_GROUPS_DIR, else `groups/` beside the database file."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from store import validate


def groups_dir(conn: sqlite3.Connection) -> Path:
    """The directory holding one sub-directory per group folder."""
    env = os.environ.get("SWITCHBOARD_GROUPS_DIR")
    if env:
        return Path(env)
    row = conn.execute("PRAGMA database_list").fetchone()
    db_file = row["file"] if row and row["file"] else ""
    return (Path(db_file).parent if db_file else Path("data")) / "groups"


def group_path(conn: sqlite3.Connection, folder: str, *, create: bool = False) -> Path:
    """The directory of one group (validated slug, so it cannot escape groups_dir)."""
    path = groups_dir(conn) / validate.folder(folder)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
