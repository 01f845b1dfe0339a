"""Per-chat traffic counts over a time window, for channel rate limits (email's per-sender
reply limit): mails accepted from a chat, and outbound messages sent to it."""

from __future__ import annotations

import sqlite3

# Parameters: chat_jid, verb, since (ISO text). Served by the messages (chat_jid, seq) index.
RECEIVED_SINCE_SQL = """
SELECT COUNT(*) FROM messages
WHERE chat_jid = ? AND is_from_me = 0 AND verb = ? AND timestamp >= ?
"""

# Parameters: chat_jid, since (ISO text).
SENT_SINCE_SQL = """
SELECT COUNT(*) FROM outbox o JOIN messages m ON m.seq = o.seq
WHERE m.chat_jid = ? AND o.status = 'sent' AND o.sent_at >= ?
"""


def received_since(
    conn: sqlite3.Connection, chat_jid: str, since: str, verb: str = "message"
) -> int:
    """Incoming messages of `verb` stored for a chat with timestamp >= since."""
    return int(conn.execute(RECEIVED_SINCE_SQL, (chat_jid, verb, since)).fetchone()[0])


def sent_since(conn: sqlite3.Connection, chat_jid: str, since: str) -> int:
    """Outbound messages to a chat delivered at or after `since`."""
    return int(conn.execute(SENT_SINCE_SQL, (chat_jid, since)).fetchone()[0])
