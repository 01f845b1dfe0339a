"""Bounded message search for the dashboard: a page of matches within one chat or a window of
seqs, never a scan of the whole history."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from store.folder_chats import and_chat_in_folders
from store.messages import latest_seq
from store.models import Message
from store.sqlparts import and_in

# A global search scans at most this many seqs per page (a rowid range: cheap and bounded).
SEARCH_WINDOW = 50_000
# A search within one chat scans at most this many of its messages per page (chat+seq index).
CHAT_SEARCH_SCAN = 50_000


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


def search_messages(
    conn: sqlite3.Connection,
    text: str,
    *,
    chat_jid: str | None = None,
    jids: list[str] | None = None,
    folders: list[str] | None = None,
    before_seq: int | None = None,
    limit: int = 50,
) -> SearchPage:
    """Messages containing `text` (case-insensitive for ASCII), newest first, in one bounded
    slice: within `chat_jid` at most CHAT_SEARCH_SCAN of its messages, else the SEARCH_WINDOW
    seqs below `before_seq`; `jids` restricts to those chats, `folders` to the chats of those
    folders, in SQL (None: all)."""
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
        sql += and_in("chat_jid", jids)
        params += jids
    if folders is not None:
        where, in_folders = and_chat_in_folders(conn, "messages.chat_jid", folders)
        sql += where
        params += in_folders
    sql += " ORDER BY seq DESC LIMIT ?"
    params.append(limit)
    rows = conn.execute(sql, params).fetchall()
    if len(rows) == limit:
        low = int(rows[-1]["seq"])
    return SearchPage([Message.from_row(r) for r in rows], low, top - 1, low if low > 1 else None)
