"""Read queries the dashboard needs beyond the core ones: bounded message search, and outbox
figures restricted to a set of chats (a dashboard user's groups). Owned by dashd's developer."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from store.messages import latest_seq
from store.models import Message

# A global search scans at most this many seqs per page (a rowid range: cheap and bounded).
SEARCH_WINDOW = 50_000
# A search within one chat scans at most this many of its messages per page (chat+seq index).
CHAT_SEARCH_SCAN = 50_000
BACKLOG_STATUSES = ("pending", "sending", "failed", "dead")


@dataclass(frozen=True, slots=True)
class SearchPage:
    """Matches (newest first) and where the scan stopped: `next_before` continues older."""

    messages: list[Message]
    scanned_from: int  # lowest seq looked at
    scanned_to: int  # highest seq looked at
    next_before: int | None  # pass as before_seq for the next (older) page; None: done


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere (escape char: backslash)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _in(column: str, values: list[str]) -> str:
    return f" AND {column} IN ({','.join('?' * len(values))})"


def search_messages(
    conn: sqlite3.Connection,
    text: str,
    *,
    chat_jid: str | None = None,
    jids: list[str] | None = None,
    before_seq: int | None = None,
    limit: int = 50,
) -> SearchPage:
    """Messages containing `text` (case-insensitive for ASCII), newest first, in one bounded
    slice: within `chat_jid` at most CHAT_SEARCH_SCAN of its messages, else the SEARCH_WINDOW
    seqs below `before_seq`; `jids` restricts to those chats (None: all)."""
    pattern = like_pattern(text)
    top = before_seq if before_seq is not None else latest_seq(conn) + 1
    if chat_jid is not None:
        rows = conn.execute(
            "SELECT * FROM (SELECT * FROM messages WHERE chat_jid = ? AND seq < ? "
            "ORDER BY seq DESC LIMIT ?) WHERE content LIKE ? ESCAPE '\\' LIMIT ?",
            (chat_jid, top, CHAT_SEARCH_SCAN, pattern, limit),
        ).fetchall()
        low_row = conn.execute(
            "SELECT MIN(seq), COUNT(*) FROM (SELECT seq FROM messages WHERE chat_jid = ? "
            "AND seq < ? ORDER BY seq DESC LIMIT ?)",
            (chat_jid, top, CHAT_SEARCH_SCAN),
        ).fetchone()
        low = int(low_row[0] or 0)
        if len(rows) == limit:
            low = int(rows[-1]["seq"])
            more = True
        else:
            more = int(low_row[1]) == CHAT_SEARCH_SCAN
        return SearchPage(
            [Message.from_row(r) for r in rows], low, top - 1, low if more and low > 1 else None
        )
    low = max(1, top - SEARCH_WINDOW)
    sql = "SELECT * FROM messages WHERE seq >= ? AND seq < ? AND content LIKE ? ESCAPE '\\'"
    params: list[object] = [low, top, pattern]
    if jids is not None:
        sql += _in("chat_jid", jids)
        params += jids
    sql += " ORDER BY seq DESC LIMIT ?"
    params.append(limit)
    rows = conn.execute(sql, params).fetchall()
    if len(rows) == limit:
        low = int(rows[-1]["seq"])
    return SearchPage([Message.from_row(r) for r in rows], low, top - 1, low if low > 1 else None)


def backlog_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Outbox rows per unfinished status (pending, sending, failed, dead), via the status index;
    sent rows are never counted, so the cost stays with the backlog, not the history."""
    counts = {s: 0 for s in BACKLOG_STATUSES}
    sql = "SELECT COUNT(*) FROM outbox WHERE status = ?"
    for status in BACKLOG_STATUSES:
        counts[status] = int(conn.execute(sql, (status,)).fetchone()[0])
    return counts


def outbox_counts_for(conn: sqlite3.Connection, jids: list[str]) -> dict[str, int]:
    """Outbox rows per unfinished status, only for messages of these chats."""
    counts = {s: 0 for s in BACKLOG_STATUSES}
    if not jids:
        return counts
    sql = (
        # CROSS JOIN keeps outbox first: its few unfinished rows via the status index, rather
        # than every message of these chats.
        "SELECT o.status, COUNT(*) FROM outbox o CROSS JOIN messages m ON m.seq = o.seq "
        "WHERE o.status IN ('pending', 'sending', 'failed', 'dead')"
        + _in("m.chat_jid", jids)
        + " GROUP BY o.status"
    )
    for status, n in conn.execute(sql, jids):
        counts[status] = n
    return counts


def dead_letters_for(
    conn: sqlite3.Connection, jids: list[str] | None, limit: int = 20
) -> list[sqlite3.Row]:
    """The latest dead outbox rows with their message (seq, chat_jid, content, last_error)."""
    sql = (
        "SELECT o.seq, m.chat_jid, m.content, o.attempts, o.last_error, o.next_attempt_at "
        "FROM outbox o CROSS JOIN messages m ON m.seq = o.seq WHERE o.status = 'dead'"
    )
    params: list[object] = []
    if jids is not None:
        if not jids:
            return []
        sql += _in("m.chat_jid", jids)
        params += jids
    # `+o.seq`: sort the few dead rows found by the status index instead of walking the whole
    # outbox backwards by primary key.
    sql += " ORDER BY +o.seq DESC LIMIT ?"
    params.append(limit)
    return conn.execute(sql, params).fetchall()


def jids_of_folders(conn: sqlite3.Connection, folders: list[str]) -> list[str]:
    """Chats registered to these folders, plus each folder's web chat `web:<folder>`."""
    if not folders:
        return []
    rows = conn.execute(
        "SELECT jid FROM registered_groups WHERE 1 = 1" + _in("folder", folders), folders
    ).fetchall()
    return sorted({r[0] for r in rows} | {f"web:{f}" for f in folders})


def outbox_states(conn: sqlite3.Connection, seqs: list[int]) -> dict[int, str]:
    """Delivery status of those outbound messages that have an outbox row (by seq)."""
    if not seqs:
        return {}
    rows = conn.execute(
        f"SELECT seq, status FROM outbox WHERE seq IN ({','.join('?' * len(seqs))})", seqs
    )
    return {int(r[0]): str(r[1]) for r in rows}
