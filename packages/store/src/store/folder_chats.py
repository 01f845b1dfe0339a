"""Which chats belong to some group folders, as an SQL condition for the queries that list or
search a restricted dashboard user's chats: filtered in SQL, never a jid list read into Python
(a folder with a share link has one chat per visitor, tens of thousands)."""

from __future__ import annotations

import sqlite3
from typing import Final

# Up to this many chats registered to the folders, the condition is a list the query is
# driven by (each chat fetched by key, then sorted: cheap for a few); above it, a per-row probe
# of registered_groups' primary key while the query walks its own index newest first (cheap
# when the folders' chats are many, so a page of them is found soon).
DRIVE_MAX: Final = 1000

# Parameters: the folders, then DRIVE_MAX + 1. Counts entries of the folder index alone (no
# table reads), stopping past DRIVE_MAX: the answer needed is only "more than that or not".
COUNT_SQL: Final = (
    "SELECT COUNT(*) FROM (SELECT 1 FROM registered_groups WHERE folder IN ({marks}) LIMIT ?)"
)


def and_chat_in_folders(
    conn: sqlite3.Connection, column: str, folders: list[str]
) -> tuple[str, list[str]]:
    """` AND <column>` (a qualified column: `chats.jid`, `m.chat_jid`) is a chat registered
    to one of `folders` or a folder's own web chat `web:<folder>`: the SQL text and its
    parameters. No folders: nothing matches."""
    if not folders:
        return " AND 0", []
    marks = ",".join("?" * len(folders))
    web = [f"web:{f}" for f in folders]
    count = int(
        conn.execute(COUNT_SQL.format(marks=marks), [*folders, DRIVE_MAX + 1]).fetchone()[0]
    )
    if count <= DRIVE_MAX:
        registered = f"{column} IN (SELECT jid FROM registered_groups WHERE folder IN ({marks}))"
    else:
        registered = (
            f"EXISTS (SELECT 1 FROM registered_groups g WHERE g.jid = {column}"
            f" AND g.folder IN ({marks}))"
        )
    return f" AND ({registered} OR {column} IN ({marks}))", [*folders, *web]
