"""Every query on `messages` (and the `chats` upsert that goes with storing one), on either
backend. On PostgreSQL every insert holds the messages advisory lock until its transaction
ends, so seq order is commit order there too (see MESSAGES_LOCK_NOTE)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable

from store import validate
from store.clock import EARLIEST, LATEST, normalise_iso, now_iso
from store.connection import tx
from store.dbapi import Conn, is_postgres
from store.errors import InvalidInput
from store.models import Message, NewMessage, PutResult
from store.pgnames import MESSAGES_LOCK

# Parameters: id, chat_jid, sender, sender_name, content, timestamp, verb, source,
# group_folder, topic, is_from_me, reply_to_id, attachments, mentions_bot, target_id,
# traceparent.
INSERT_MESSAGE_SQL = """
INSERT INTO messages (id, chat_jid, sender, sender_name, content, timestamp, verb, source,
                      group_folder, topic, is_from_me, reply_to_id, attachments, mentions_bot,
                      target_id, traceparent)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (chat_jid, id) DO NOTHING
"""
# PostgreSQL has no lastrowid: the new seq comes back as a row (none for a duplicate).
INSERT_MESSAGE_PG_SQL = INSERT_MESSAGE_SQL.rstrip() + "\nRETURNING seq\n"

# Parameters: jid, name, channel, is_group, last_message_at.
UPSERT_CHAT_SQL = """
INSERT INTO chats (jid, name, channel, is_group, last_message_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (jid) DO UPDATE SET
    last_message_at = MAX(COALESCE(chats.last_message_at, ''), excluded.last_message_at),
    name = CASE WHEN excluded.name != '' THEN excluded.name ELSE chats.name END
"""
# Why message inserts take a lock on PostgreSQL: a sequence hands out its value before the commit,
# so without care seq 11 can commit, and be read, before seq 10 commits, and a reader whose cursor
# is then 11 never sees 10. So every insert into messages first takes the transaction-level advisory
# lock MESSAGES_LOCK, held until its transaction ends (taking it again in the same transaction does
# not wait): a seq is taken only once every smaller seq has committed or rolled back, and seq order
# is commit order, as SQLite's single writer makes it. The cost: message inserts commit one at a
# time (they are short).

# Parameters: MESSAGES_LOCK, those of INSERT_MESSAGE_SQL, then those of UPSERT_CHAT_SQL.
# PostgreSQL, one statement (one round trip): take the messages lock (the MATERIALIZED CTE is
# read before the insert's row, and so its seq, is made), insert the message, upsert its chat
# and notify the changes channel only when the message is new; the new seq comes back (no row
# for a duplicate).
INSERT_MESSAGE_AND_CHAT_PG_SQL = """
WITH locked AS MATERIALIZED (SELECT pg_advisory_xact_lock(?)),
inserted AS (
    INSERT INTO messages (id, chat_jid, sender, sender_name, content, timestamp, verb, source,
                          group_folder, topic, is_from_me, reply_to_id, attachments,
                          mentions_bot, target_id, traceparent)
    SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM locked
    ON CONFLICT (chat_jid, id) DO NOTHING
    RETURNING seq
), chat AS (
    INSERT INTO chats (jid, name, channel, is_group, last_message_at)
    SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM inserted)
    ON CONFLICT (jid) DO UPDATE SET
        last_message_at = GREATEST(COALESCE(chats.last_message_at, ''), excluded.last_message_at),
        name = CASE WHEN excluded.name != '' THEN excluded.name ELSE chats.name END
)
SELECT seq, pg_notify('switchboard_changes', '') FROM inserted
"""
# The same on PostgreSQL, whose maximum of two values is GREATEST.
UPSERT_CHAT_PG_SQL = """
INSERT INTO chats (jid, name, channel, is_group, last_message_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (jid) DO UPDATE SET
    last_message_at = GREATEST(COALESCE(chats.last_message_at, ''), excluded.last_message_at),
    name = CASE WHEN excluded.name != '' THEN excluded.name ELSE chats.name END
"""

MAX_PAGE = 1000


def page_size(limit: int) -> int:
    """A page limit between 1 and MAX_PAGE (SQLite would read a negative LIMIT as no limit)."""
    if limit < 1:
        raise InvalidInput("limit", f"must be at least 1, got {limit}")
    return min(limit, MAX_PAGE)


def message_params(msg: NewMessage) -> tuple[object, ...]:
    """Validate a NewMessage and return its INSERT parameters."""
    validate.jid(msg.chat_jid)
    validate.identifier(msg.id, "id", allow_empty=False)
    validate.content(msg.content)
    validate.identifier(msg.sender, "sender")
    validate.short_text(msg.sender_name, "sender_name")
    validate.short_text(msg.chat_name, "chat_name")
    validate.short_text(msg.verb, "verb", allow_empty=False)
    validate.short_text(msg.source, "source")
    validate.short_text(msg.topic, "topic")
    if msg.group_folder is not None:
        validate.folder(msg.group_folder, "group_folder")
    if msg.reply_to_id is not None:
        validate.identifier(msg.reply_to_id, "reply_to_id")
    if msg.target_id is not None:
        validate.identifier(msg.target_id, "target_id", allow_empty=False)
    if msg.traceparent is not None:
        validate.traceparent(msg.traceparent)
    timestamp = now_iso()
    if msg.timestamp:
        try:
            timestamp = normalise_iso(msg.timestamp)
        except ValueError as exc:
            raise InvalidInput(
                "timestamp",
                f"{msg.timestamp[:64]!r} is not an ISO-8601 time with a zone in "
                f"{EARLIEST.year}..{LATEST.year - 1} (e.g. 2026-11-23T09:00:00Z)",
            ) from exc
    attachments = None
    if msg.attachments:
        if not isinstance(msg.attachments, list):
            raise InvalidInput("attachments", "must be a list of objects")
        try:
            attachments = json.dumps(msg.attachments, allow_nan=False)
        except ValueError:
            raise InvalidInput("attachments", "NaN and Infinity are not JSON numbers") from None
        if len(attachments) > 64_000:
            raise InvalidInput("attachments", "too large (over 64000 bytes of JSON)")
    return (
        msg.id,
        msg.chat_jid,
        msg.sender,
        msg.sender_name,
        msg.content,
        timestamp,
        msg.verb,
        msg.source,
        msg.group_folder,
        msg.topic,
        int(msg.is_from_me),
        msg.reply_to_id,
        attachments,
        int(msg.mentions_bot),
        msg.target_id,
        msg.traceparent,
    )


def lock_message_inserts(conn: Conn) -> None:
    """On PostgreSQL, take the messages lock (MESSAGES_LOCK_NOTE) for the inserts to come in
    this transaction; nothing on SQLite."""
    if is_postgres(conn):
        conn.execute("SELECT pg_advisory_xact_lock(?)", (MESSAGES_LOCK,))


def _insert_row(conn: Conn, msg: NewMessage, params: tuple[object, ...]) -> PutResult:
    """Insert the message row only (no chats upsert); the caller is inside tx() and on
    PostgreSQL holds `lock_message_inserts`."""
    if is_postgres(conn):
        row = conn.execute(INSERT_MESSAGE_PG_SQL, params).fetchone()
        if row is not None:
            return PutResult(seq=row[0], duplicate=False)
        return _duplicate(conn, msg)
    # rowcount/lastrowid instead of RETURNING: one less step per row on the hot path.
    cur = conn.execute(INSERT_MESSAGE_SQL, params)
    if cur.rowcount == 1 and cur.lastrowid is not None:
        return PutResult(seq=cur.lastrowid, duplicate=False)
    return _duplicate(conn, msg)


def _insert_rows(
    conn: Conn, checked: list[tuple[NewMessage, tuple[object, ...]]]
) -> list[PutResult]:
    """`_insert_row` for each; on PostgreSQL all inserts in one pipelined round trip."""
    if not is_postgres(conn) or not checked:
        return [_insert_row(conn, m, p) for m, p in checked]
    from store.pgconn import PgConnection  # psycopg is imported only by PostgreSQL users

    assert isinstance(conn, PgConnection)
    rows = conn.executemany_returning(INSERT_MESSAGE_PG_SQL, [p for _, p in checked])
    return [
        PutResult(seq=row[0], duplicate=False) if row else _duplicate(conn, m)
        for (m, _), row in zip(checked, rows, strict=True)
    ]


def _duplicate(conn: Conn, msg: NewMessage) -> PutResult:
    """The result of putting a message that is stored already."""
    seq = conn.execute(
        "SELECT seq FROM messages WHERE chat_jid = ? AND id = ?", (msg.chat_jid, msg.id)
    ).fetchone()[0]
    return PutResult(seq=seq, duplicate=True)


def _chat_params(msg: NewMessage, timestamp: object) -> tuple[object, ...]:
    return (
        msg.chat_jid,
        msg.chat_name,
        validate.channel_of(msg.chat_jid),
        int(msg.is_group),
        timestamp,
    )


def _upsert_chat_sql(conn: Conn) -> str:
    return UPSERT_CHAT_PG_SQL if is_postgres(conn) else UPSERT_CHAT_SQL


def _insert_with_chat(conn: Conn, msg: NewMessage, params: tuple[object, ...]) -> PutResult:
    """Insert the message and upsert its chat unless it is a duplicate; the caller is inside
    tx(). PostgreSQL: one statement that also takes the messages lock and notifies."""
    chat = _chat_params(msg, params[5])
    if is_postgres(conn):
        values = (MESSAGES_LOCK, *params, *chat)
        row = conn.execute(INSERT_MESSAGE_AND_CHAT_PG_SQL, values).fetchone()
        return PutResult(seq=row[0], duplicate=False) if row else _duplicate(conn, msg)
    result = _insert_row(conn, msg, params)
    if not result.duplicate:
        conn.execute(UPSERT_CHAT_SQL, chat)
    return result


def insert_message(conn: Conn, msg: NewMessage, params: tuple[object, ...]) -> PutResult:
    """Insert one validated message and upsert its chat; the caller is inside tx()."""
    return _insert_with_chat(conn, msg, params)


def put_message(conn: Conn, msg: NewMessage) -> PutResult:
    """Store a message (idempotent on chat_jid+id) and upsert its chat; one transaction."""
    params = message_params(msg)
    with tx(conn, pg_notified=True):
        return _insert_with_chat(conn, msg, params)


def put_messages(conn: Conn, msgs: Iterable[NewMessage]) -> list[PutResult]:
    """Store many messages in one transaction (all validated before anything is written)."""
    checked = [(m, message_params(m)) for m in msgs]
    with tx(conn):
        lock_message_inserts(conn)
        results = _insert_rows(conn, checked)
        # One chats upsert per chat per batch, in message order, so the outcome equals
        # upserting after every row (latest last_message_at, last non-empty name wins).
        chats: dict[str, tuple[object, ...]] = {}
        for (m, p), r in zip(checked, results, strict=True):
            if r.duplicate:
                continue
            prev = chats.get(m.chat_jid)
            if prev is None:
                chats[m.chat_jid] = _chat_params(m, p[5])
            else:
                chats[m.chat_jid] = (
                    m.chat_jid,
                    m.chat_name or prev[1],
                    prev[2],
                    prev[3],
                    max(str(prev[4]), str(p[5])),
                )
        if chats:
            conn.executemany(_upsert_chat_sql(conn), list(chats.values()))
        return results


def new_messages(conn: Conn, since_seq: int, limit: int = 500) -> list[Message]:
    """Messages with seq > since_seq, oldest first (the cursor-following read)."""
    rows = conn.execute(
        "SELECT * FROM messages WHERE seq > ? ORDER BY seq LIMIT ?",
        (since_seq, page_size(limit)),
    ).fetchall()
    return [Message.from_row(r) for r in rows]


def messages_since(conn: Conn, chat_jid: str, cursor: int, limit: int = 200) -> list[Message]:
    """One chat's messages with seq > cursor, oldest first."""
    rows = conn.execute(
        "SELECT * FROM messages WHERE chat_jid = ? AND seq > ? ORDER BY seq LIMIT ?",
        (chat_jid, cursor, page_size(limit)),
    ).fetchall()
    return [Message.from_row(r) for r in rows]


def messages_before(
    conn: Conn, chat_jid: str, before_seq: int | None, limit: int = 50
) -> list[Message]:
    """One chat's page of messages ending before `before_seq` (None: the latest), oldest first."""
    bound = before_seq if before_seq is not None else 2**62
    rows = conn.execute(
        "SELECT * FROM messages WHERE chat_jid = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
        (chat_jid, bound, page_size(limit)),
    ).fetchall()
    return [Message.from_row(r) for r in reversed(rows)]


def get_message(conn: Conn, seq: int) -> Message | None:
    """The message with this seq, if any."""
    row = conn.execute("SELECT * FROM messages WHERE seq = ?", (seq,)).fetchone()
    return Message.from_row(row) if row else None


def find_message(conn: Conn, chat_jid: str, msg_id: str) -> Message | None:
    """The message with this (chat_jid, id), if any."""
    row = conn.execute(
        "SELECT * FROM messages WHERE chat_jid = ? AND id = ?", (chat_jid, msg_id)
    ).fetchone()
    return Message.from_row(row) if row else None


def latest_seq(conn: Conn) -> int:
    """The highest seq stored (0 for an empty table)."""
    return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM messages").fetchone()[0])


def new_outbound_id() -> str:
    """A fresh id for a message we send."""
    return f"out:{uuid.uuid4().hex}"


# Parameters: group_folder, topic, after_seq (exclusive), upto_seq (inclusive), limit.
# Served by the messages primary key (seq range); task messages are rare.
PENDING_TASKS_SQL = """
SELECT * FROM messages
WHERE seq > ? AND seq <= ? AND verb = 'task' AND is_from_me = 0
  AND group_folder = ? AND topic = ?
ORDER BY seq LIMIT ?
"""


def pending_task_messages(
    conn: Conn,
    group_folder: str,
    topic: str,
    after_seq: int,
    upto_seq: int,
    limit: int = 50,
) -> list[Message]:
    """Task messages for (folder, topic) with after_seq < seq <= upto_seq, oldest first."""
    rows = conn.execute(
        PENDING_TASKS_SQL, (after_seq, upto_seq, group_folder, topic, min(limit, MAX_PAGE))
    ).fetchall()
    return [Message.from_row(r) for r in rows]
