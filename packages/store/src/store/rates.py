"""Per-chat traffic counts over a time window, for channel rate limits (email's per-sender
reply limit): mails accepted from a chat, and outbound messages sent to it.

Each count looks only at the chat's newest WINDOW_ROWS messages (the (chat_jid, seq) index read
backwards), so its cost does not grow with the chat's history. A limit is far below the window,
so a count that saturates at the window is still "over the limit".
"""

from __future__ import annotations

import sqlite3

WINDOW_ROWS = 2000

# Parameters: chat_jid, window rows, verb, since (ISO text).
RECEIVED_SINCE_SQL = """
SELECT COUNT(*) FROM (
    SELECT is_from_me, verb, timestamp FROM messages
    WHERE chat_jid = ? ORDER BY seq DESC LIMIT ?
) WHERE is_from_me = 0 AND verb = ? AND timestamp >= ?
"""

# Parameters: chat_jid, window rows, since (ISO text).
SENT_SINCE_SQL = """
SELECT COUNT(*) FROM (
    SELECT seq FROM messages WHERE chat_jid = ? ORDER BY seq DESC LIMIT ?
) m JOIN outbox o ON o.seq = m.seq
WHERE o.status = 'sent' AND o.sent_at >= ?
"""

# Parameters: chat_jid, verb. Stops at the first match.
HAS_RECEIVED_SQL = """
SELECT EXISTS (SELECT 1 FROM messages WHERE chat_jid = ? AND is_from_me = 0 AND verb = ?)
"""


def received_since(
    conn: sqlite3.Connection, chat_jid: str, since: str, verb: str = "message"
) -> int:
    """Incoming messages of `verb` stored for a chat with timestamp >= since (capped)."""
    row = conn.execute(RECEIVED_SINCE_SQL, (chat_jid, WINDOW_ROWS, verb, since)).fetchone()
    return int(row[0])


def sent_since(conn: sqlite3.Connection, chat_jid: str, since: str) -> int:
    """Outbound messages to a chat delivered at or after `since` (capped)."""
    return int(conn.execute(SENT_SINCE_SQL, (chat_jid, WINDOW_ROWS, since)).fetchone()[0])


def has_received(conn: sqlite3.Connection, chat_jid: str, verb: str = "message") -> bool:
    """Whether a chat ever sent us a message of `verb`."""
    return bool(conn.execute(HAS_RECEIVED_SQL, (chat_jid, verb)).fetchone()[0])
