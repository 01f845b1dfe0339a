"""Where group folders live: SWITCHBOARD_GROUPS_DIR, else `groups/` beside the database file.
A folder made here starts with its persona and memory (`store.persona.seed_group_dir`)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from store import validate
from store.persona import MEMORY_DIR, PERSONA_FILE, is_unused_group_dir, seed_group_dir


def beside_db(conn: sqlite3.Connection, name: str, env: str) -> Path:
    """A directory of the deployment: `$env` when set, else `name` beside the database file."""
    override = os.environ.get(env)
    if override:
        return Path(override)
    row = conn.execute("PRAGMA database_list").fetchone()
    db_file = row["file"] if row and row["file"] else ""
    return (Path(db_file).parent if db_file else Path("data")) / name


def groups_dir(conn: sqlite3.Connection) -> Path:
    """The directory holding one sub-directory per group folder."""
    return beside_db(conn, "groups", "SWITCHBOARD_GROUPS_DIR")


def group_path(conn: sqlite3.Connection, folder: str, *, create: bool = False) -> Path:
    """The directory of one group (validated slug, so it cannot escape groups_dir). With
    `create`, a missing directory is made, and an empty one seeded (CLAUDE.md, memory/)."""
    path = groups_dir(conn) / validate.folder(folder)
    if create:
        path.mkdir(parents=True, exist_ok=True)
        seed_group_dir(path, folder)
    return path


def remove_unused_group_dir(conn: sqlite3.Connection, folder: str) -> bool:
    """Remove a group's directory when it is empty or holds only its untouched seed (undoing
    group_path(create=True) for a group that did not come to be); True when removed."""
    path = group_path(conn, folder)
    try:
        if not path.is_dir() or path.is_symlink() or not is_unused_group_dir(path, folder):
            return False
        with contextlib.suppress(FileNotFoundError):
            (path / PERSONA_FILE).unlink()
        with contextlib.suppress(FileNotFoundError):
            (path / MEMORY_DIR).rmdir()
        path.rmdir()
    except OSError:
        return False
    return True
