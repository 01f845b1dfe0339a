"""Chats, registered groups and routes: who a chat is and which group folder answers it."""

from __future__ import annotations

import sqlite3
from typing import Any

from store import audit, validate
from store.audit import Actor
from store.clock import now_iso, parse_iso
from store.connection import tx
from store.errors import InvalidInput, NotFound
from store.folder_chats import and_chat_in_folders
from store.group_settings import agent_config_changes, seed_folder_settings, validated_changes
from store.hierarchy import parent_for_new_row
from store.models import Chat, Group, Route

ROUTE_SEQ_STEP = 10


def get_chat(conn: sqlite3.Connection, jid: str) -> Chat | None:
    row = conn.execute("SELECT * FROM chats WHERE jid = ?", (jid,)).fetchone()
    return Chat.from_row(row) if row else None


def list_chats(
    conn: sqlite3.Connection,
    *,
    before: str | None = None,
    limit: int = 50,
    folders: list[str] | None = None,
) -> list[Chat]:
    """Chats by latest activity, newest first; `before` pages on last_message_at; `folders`
    keeps the chats of those folders (None: all), filtered in SQL."""
    sql = "SELECT * FROM chats WHERE COALESCE(last_message_at, '') < ?"
    params: list[Any] = [before or "\uffff"]
    if folders is not None:
        where, more = and_chat_in_folders(conn, "chats.jid", folders)
        sql += where
        params += more
    sql += " ORDER BY last_message_at DESC LIMIT ?"
    params.append(limit)
    return [Chat.from_row(r) for r in conn.execute(sql, params)]


def errored_chats(conn: sqlite3.Connection, folders: list[str] | None = None) -> list[Chat]:
    """Chats marked errored; `folders` keeps those of these folders (None: all)."""
    sql, params = "SELECT * FROM chats WHERE errored = 1", list[str]()
    if folders is not None:
        where, params = and_chat_in_folders(conn, "chats.jid", folders)
        sql += where
    return [Chat.from_row(r) for r in conn.execute(sql, params)]


def note_run_failure(conn: sqlite3.Connection, jid: str, threshold: int = 3) -> int:
    """Count a failed agent run for a chat; sets `errored` at `threshold`. Returns the count."""
    if threshold < 1:
        raise InvalidInput("threshold", f"must be at least 1, got {threshold}")
    with tx(conn):
        row = conn.execute(
            "UPDATE chats SET consecutive_failures = consecutive_failures + 1, "
            "errored = CASE WHEN consecutive_failures + 1 >= ? THEN 1 ELSE errored END "
            "WHERE jid = ? RETURNING consecutive_failures",
            (threshold, jid),
        ).fetchone()
        return int(row[0]) if row else 0


def note_run_success(conn: sqlite3.Connection, jid: str) -> bool:
    """A run succeeded: clear the failure count; True when the chat was errored before."""
    with tx(conn):
        row = conn.execute(
            "UPDATE chats SET consecutive_failures = 0, errored = 0 "
            "WHERE jid = ? AND (consecutive_failures != 0 OR errored != 0) "
            "RETURNING 1",
            (jid,),
        ).fetchone()
        return row is not None


def register_group(
    conn: sqlite3.Connection,
    jid: str,
    folder: str,
    *,
    name: str = "",
    trigger_word: str = "",
    requires_trigger: bool = False,
    agent_config: dict[str, Any] | None = None,
    parent: str | None = None,
    is_operator: bool = False,
    replace: bool = False,
    actor: Actor | None = None,
) -> Group:
    """Register a chat to a group folder. Without `replace`, an existing jid is an error.

    `agent_config` (`command`, `timeout_s`, `env`) becomes the folder's settings when the
    folder has none yet; settings are the folder's (`update_folder_settings`), not the chat's.
    The parent is the folder's too (store.hierarchy): a folder that has one gives it to the new
    row (another explicit `parent` is InvalidInput); a new explicit one must be a known folder
    and close no cycle, and becomes the parent of the folder's other rows as well. With an
    `actor`, the registration is logged (`group.add`, the replaced row as its before).
    """
    validate.jid(jid, "jid")
    validate.folder(folder)
    validate.short_text(name, "name")
    validate.short_text(trigger_word, "trigger_word")
    if requires_trigger and not trigger_word.strip():
        raise InvalidInput("trigger_word", "required when requires_trigger is set")
    if parent is not None:
        validate.folder(parent, "parent")
    config = agent_config or {}
    if not isinstance(config, dict):
        raise InvalidInput("agent_config", "must be a JSON object")
    settings, ignored = agent_config_changes(config)
    if ignored:
        raise InvalidInput("agent_config", f"has no setting {ignored[0]!r}")
    validated_changes(conn, settings, [], ())
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    with tx(conn):
        replaced = get_group(conn, jid)
        if not replace and replaced is not None:
            raise InvalidInput("jid", f"{jid} is already registered")
        parent = parent_for_new_row(conn, folder, parent)
        conn.execute(
            f"{verb} INTO registered_groups (jid, folder, name, trigger_word, requires_trigger, "
            "parent, is_operator, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                jid,
                folder,
                name,
                trigger_word,
                int(requires_trigger),
                parent,
                int(is_operator),
                now_iso(),
            ),
        )
        conn.execute(
            "INSERT INTO chats (jid, name, channel) VALUES (?, ?, ?) ON CONFLICT (jid) DO NOTHING",
            (jid, name, validate.channel_of(jid)),
        )
        seed_folder_settings(conn, folder, settings)
        row = conn.execute("SELECT * FROM registered_groups WHERE jid = ?", (jid,)).fetchone()
        group = Group.from_row(row)
        audit.record(conn, actor, "group.add", jid, before=replaced, after=group)
        return group


def unregister_group(conn: sqlite3.Connection, jid: str, *, actor: Actor | None = None) -> None:
    """Remove a chat's registration and its routes; NotFound when it was not registered. With
    an `actor`, logged as `group.remove` (the row and its routes as the before)."""
    with tx(conn):
        group = get_group(conn, jid)
        if group is None:
            raise NotFound(f"no registered group with jid {jid}")
        routes = routes_for(conn, jid)
        conn.execute("DELETE FROM registered_groups WHERE jid = ?", (jid,))
        conn.execute("DELETE FROM routes WHERE jid = ?", (jid,))
        before = {"group": group, "routes": routes}
        audit.record(conn, actor, "group.remove", jid, before=before)


def get_group(conn: sqlite3.Connection, jid: str) -> Group | None:
    row = conn.execute("SELECT * FROM registered_groups WHERE jid = ?", (jid,)).fetchone()
    return Group.from_row(row) if row else None


# The distinct folders of registered_groups by skipping along the (folder, jid) index: one
# probe per folder, however many chats (share-link visitors) a folder has.
FOLDERS_CTE = """
WITH RECURSIVE folders(name) AS (
    SELECT MIN(folder) FROM registered_groups
    UNION ALL
    SELECT (SELECT MIN(folder) FROM registered_groups WHERE folder > folders.name)
    FROM folders WHERE folders.name IS NOT NULL
)
"""
# No parameters. Every registered chat but the share-link visitors' (`web:<folder>/v/<id>`,
# the jids from 'web:<folder>/v/' to before 'web:<folder>/v0'): two index ranges per folder,
# so the visitors' rows are never read.
NON_VISITOR_GROUPS_SQL = (
    FOLDERS_CTE
    + """SELECT g.* FROM folders CROSS JOIN registered_groups g ON g.folder = folders.name
    AND (g.jid < 'web:' || folders.name || '/v/' OR g.jid >= 'web:' || folders.name || '/v0')
WHERE folders.name IS NOT NULL ORDER BY g.folder, g.jid"""
)


def registered_groups(conn: sqlite3.Connection, *, visitors: bool = True) -> list[Group]:
    """Every registered chat, by folder then jid; `visitors=False` leaves out the share-link
    visitors' chats (one per visitor: count them with `share_links.visitor_counts`)."""
    if visitors:
        rows = conn.execute("SELECT * FROM registered_groups ORDER BY folder, jid")
    else:
        rows = conn.execute(NON_VISITOR_GROUPS_SQL)
    return [Group.from_row(r) for r in rows]


def group_folders(conn: sqlite3.Connection) -> list[str]:
    """The folders that have a registered chat, sorted (one index probe per folder)."""
    rows = conn.execute(FOLDERS_CTE + "SELECT name FROM folders WHERE name IS NOT NULL")
    return [str(r[0]) for r in rows]


def is_registered(conn: sqlite3.Connection, jid: str) -> bool:
    """Whether a chat has a registered group (no row decoding: a per-message check)."""
    row = conn.execute("SELECT 1 FROM registered_groups WHERE jid = ?", (jid,)).fetchone()
    return row is not None


def folder_owner(conn: sqlite3.Connection, folder: str) -> str | None:
    """The jid of a registered group using `folder` (the first by jid), if any."""
    row = conn.execute(
        "SELECT jid FROM registered_groups WHERE folder = ? ORDER BY jid LIMIT 1", (folder,)
    ).fetchone()
    return str(row[0]) if row else None


def folder_in_use(conn: sqlite3.Connection, folder: str) -> bool:
    """Whether a chat is registered or routed to `folder`, or it has settings."""
    row = conn.execute(
        "SELECT 1 FROM registered_groups WHERE folder = :f UNION ALL "
        "SELECT 1 FROM routes WHERE target = :f UNION ALL "
        "SELECT 1 FROM group_settings WHERE folder = :f LIMIT 1",
        {"f": folder},
    ).fetchone()
    return row is not None


def groups_for_folder(conn: sqlite3.Connection, folder: str) -> list[Group]:
    rows = conn.execute(
        "SELECT * FROM registered_groups WHERE folder = ? ORDER BY jid", (folder,)
    ).fetchall()
    return [Group.from_row(r) for r in rows]


def operator_groups(conn: sqlite3.Connection) -> list[Group]:
    rows = conn.execute("SELECT * FROM registered_groups WHERE is_operator = 1").fetchall()
    return [Group.from_row(r) for r in rows]


def add_route(
    conn: sqlite3.Connection,
    jid: str,
    type: str,
    match: str | None,
    target: str,
    *,
    seq: int | None = None,
    actor: Actor | None = None,
) -> Route:
    """Add a routing rule for a chat; seq defaults to after the last one. With an `actor`,
    logged as `route.add` (target: the chat)."""
    validate.jid(jid, "jid")
    kind = validate.route_type(type)
    text = validate.route_match(kind, match)
    validate.folder(target, "target")
    with tx(conn):
        if seq is None:
            last = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM routes WHERE jid = ?", (jid,)
            ).fetchone()[0]
            seq = int(last) + ROUTE_SEQ_STEP
        elif conn.execute("SELECT 1 FROM routes WHERE jid = ? AND seq = ?", (jid, seq)).fetchone():
            raise InvalidInput("seq", f"{jid} already has a route at seq {seq}")
        row = conn.execute(
            "INSERT INTO routes (jid, seq, type, match, target) VALUES (?, ?, ?, ?, ?) RETURNING *",
            (jid, seq, kind, text, target),
        ).fetchone()
        route = Route.from_row(row)
        audit.record(conn, actor, "route.add", jid, after=route)
        return route


def remove_route(conn: sqlite3.Connection, route_id: int, *, actor: Actor | None = None) -> None:
    """Remove a routing rule; NotFound when there is none. With an `actor`, logged as
    `route.remove` (target: the rule's chat)."""
    with tx(conn):
        row = conn.execute("DELETE FROM routes WHERE id = ? RETURNING *", (route_id,)).fetchone()
        if row is None:
            raise NotFound(f"no route with id {route_id}")
        route = Route.from_row(row)
        audit.record(conn, actor, "route.remove", route.jid, before=route)


def routes_for(conn: sqlite3.Connection, jid: str) -> list[Route]:
    """A chat's routes in evaluation order."""
    rows = conn.execute("SELECT * FROM routes WHERE jid = ? ORDER BY seq", (jid,)).fetchall()
    return [Route.from_row(r) for r in rows]


def all_routes(conn: sqlite3.Connection) -> list[Route]:
    rows = conn.execute("SELECT * FROM routes ORDER BY jid, seq").fetchall()
    return [Route.from_row(r) for r in rows]


def active_web_jids(conn: sqlite3.Connection, since: str) -> list[str]:
    """`web:` chats with a message at or after `since` (UTC text)."""
    try:
        parse_iso(since)
    except ValueError as exc:
        raise InvalidInput("since", f"not an ISO-8601 time with zone: {since!r}") from exc
    rows = conn.execute(
        "SELECT jid FROM chats WHERE last_message_at >= ? AND jid LIKE 'web:%' ORDER BY jid",
        (since,),
    ).fetchall()
    return [r[0] for r in rows]
