"""Outbound messages and their delivery state (`outbox`): store, claim, mark sent / failed,
take back claims of gone owners, the progress of multi-part deliveries, backlog figures."""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from store import bus, validate
from store.clock import iso, now_iso, parse_iso, utcnow
from store.connection import tx
from store.errors import InvalidInput
from store.folder_chats import and_chat_in_folders
from store.liveness import owner_gone
from store.messages import insert_message, message_params, new_outbound_id
from store.models import NewMessage, OutboxItem, OutboxStatus
from store.state import get_state, set_state

BACKLOG_STATUSES = ("pending", "sending", "failed", "dead")


@dataclass(frozen=True, slots=True)
class Released:
    """Claims taken back from an owner that is gone."""

    owner: str  # the claimed_by token
    reason: str  # store.liveness.gone_reason: dead, zombie, pid reused, silent, ...
    rows: int


DEFAULT_MAX_ATTEMPTS = 8
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 600.0
# A 'sending' claim older than this is claimable again whoever holds it: the last resort for an
# owner release_gone_claims() cannot judge (another host without a heartbeat row, an old token).
CLAIM_LEASE_S = 120.0

# Who holds 'sending' claims, and since when (the oldest claim of each). Served by outbox_due.
CLAIM_OWNERS_SQL = """
SELECT claimed_by, MIN(claimed_at) FROM outbox
WHERE status = 'sending' AND claimed_by IS NOT NULL
GROUP BY claimed_by
"""

# Parameters: now (next_attempt_at), the owner. Compare-and-set: only rows it still holds.
RELEASE_SQL = """
UPDATE outbox SET status = 'pending', claimed_by = NULL, next_attempt_at = ?
WHERE status = 'sending' AND claimed_by = ?
"""

# Parameters: now (claimed_at), claimer, now (due), stale claim bound, limit.
CLAIM_SQL = """
UPDATE outbox SET status = 'sending', attempts = attempts + 1, claimed_at = ?, claimed_by = ?
WHERE seq IN (
    SELECT seq FROM outbox
    WHERE (status IN ('pending', 'failed') AND next_attempt_at <= ?)
       OR (status = 'sending' AND claimed_at < ?)
    ORDER BY next_attempt_at, seq LIMIT ?
)
RETURNING seq
"""

ITEM_SQL = """
SELECT o.seq, m.id, m.chat_jid, o.channel, m.content, m.group_folder, m.topic, m.reply_to_id,
       o.status, o.attempts, o.next_attempt_at, o.last_error, m.attachments, o.remote_id,
       m.traceparent
FROM outbox o JOIN messages m ON m.seq = o.seq WHERE o.seq = ?
"""


def store_outbound(
    conn: sqlite3.Connection,
    chat_jid: str,
    content: str,
    *,
    group_folder: str | None = None,
    source: str = "agent",
    topic: str = "",
    reply_to_id: str | None = None,
    sender: str = "",
    msg_id: str | None = None,
    verb: str = "message",
    attachments: list[dict[str, Any]] | None = None,
    traceparent: str | None = None,
) -> int:
    """Record an outbound message and its pending outbox row in one transaction; return seq.

    With `msg_id` given the call is idempotent: the same id stores nothing new. `traceparent`
    names the span that made it (its delivery continues that trace).
    """
    msg = NewMessage(
        id=msg_id or new_outbound_id(),
        chat_jid=chat_jid,
        content=content,
        sender=sender,
        verb=verb,
        source=source,
        group_folder=group_folder,
        topic=topic,
        is_from_me=True,
        reply_to_id=reply_to_id,
        attachments=attachments,
        traceparent=traceparent,
    )
    params = message_params(msg)
    with tx(conn):
        result = insert_message(conn, msg, params)
        if not result.duplicate:
            conn.execute(
                "INSERT INTO outbox (seq, channel, next_attempt_at) VALUES (?, ?, ?)",
                (result.seq, validate.channel_of(chat_jid), now_iso()),
            )
        return result.seq


def _item(conn: sqlite3.Connection, seq: int) -> OutboxItem:
    r = conn.execute(ITEM_SQL, (seq,)).fetchone()
    return OutboxItem(
        seq=r["seq"],
        id=r["id"],
        chat_jid=r["chat_jid"],
        channel=r["channel"],
        content=r["content"],
        group_folder=r["group_folder"],
        topic=r["topic"],
        reply_to_id=r["reply_to_id"],
        status=r["status"],
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        last_error=r["last_error"],
        attachments=json.loads(r["attachments"]) if r["attachments"] else [],
        remote_id=r["remote_id"],
        traceparent=r["traceparent"],
    )


def claim_outbound(
    conn: sqlite3.Connection, claimer: str, *, now: datetime | None = None, limit: int = 20
) -> list[OutboxItem]:
    """Claim due outbox rows (compare-and-set to 'sending'); each row goes to one claimer."""
    validate.short_text(claimer, "claimer", allow_empty=False)
    if limit < 1:
        raise InvalidInput("limit", f"must be at least 1, got {limit}")
    now = now or utcnow()
    stale = iso(now - timedelta(seconds=CLAIM_LEASE_S))
    with tx(conn):
        seqs = [r[0] for r in conn.execute(CLAIM_SQL, (iso(now), claimer, iso(now), stale, limit))]
        return [_item(conn, s) for s in sorted(seqs)]


def mark_sent(conn: sqlite3.Connection, seq: int, remote_id: str | None = None) -> bool:
    """A claimed row was delivered. False when the claim was no longer ours to settle."""
    with tx(conn):
        cur = conn.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, remote_id = ?, last_error = NULL "
            "WHERE seq = ? AND status = 'sending'",
            (now_iso(), remote_id, seq),
        )
        return cur.rowcount == 1


def backoff_delay(attempts: int) -> float:
    """Seconds before the next try: exponential from BACKOFF_BASE_S, capped, with jitter."""
    delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))
    return float(delay * random.uniform(0.8, 1.2))


def mark_failed(
    conn: sqlite3.Connection,
    seq: int,
    error: str,
    *,
    now: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    permanent: bool = False,
) -> OutboxStatus:
    """A delivery try failed: schedule a retry with back-off, or 'dead' after max_attempts."""
    now = now or utcnow()
    with tx(conn):
        row = conn.execute(
            "SELECT attempts FROM outbox WHERE seq = ? AND status = 'sending'", (seq,)
        ).fetchone()
        if row is None:
            status = conn.execute("SELECT status FROM outbox WHERE seq = ?", (seq,)).fetchone()
            return status[0] if status else "dead"
        attempts = int(row[0])
        new_status: OutboxStatus = "dead" if permanent or attempts >= max_attempts else "failed"
        next_at = now + timedelta(seconds=backoff_delay(attempts))
        conn.execute(
            "UPDATE outbox SET status = ?, last_error = ?, next_attempt_at = ?, claimed_by = NULL "
            "WHERE seq = ? AND status = 'sending'",
            (new_status, error[:2000], iso(next_at), seq),
        )
        return new_status


def next_due_at(conn: sqlite3.Connection) -> str | None:
    """When the earliest pending/failed row becomes due (None when nothing waits)."""
    row = conn.execute(
        "SELECT MIN(next_attempt_at) FROM outbox WHERE status IN ('pending', 'failed')"
    ).fetchone()
    return row[0] if row else None


def outbox_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows per outbox status (for status pages)."""
    counts = {s: 0 for s in ("pending", "sending", "sent", "failed", "dead")}
    for status, n in conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"):
        counts[status] = n
    return counts


def outbox_status(conn: sqlite3.Connection, seq: int) -> OutboxItem | None:
    """The outbox row of an outbound message, if it has one."""
    if conn.execute("SELECT 1 FROM outbox WHERE seq = ?", (seq,)).fetchone() is None:
        return None
    return _item(conn, seq)


def dead_letters(conn: sqlite3.Connection, limit: int = 50) -> list[OutboxItem]:
    """The latest dead outbox rows."""
    seqs = [
        r[0]
        for r in conn.execute(
            "SELECT seq FROM outbox WHERE status = 'dead' ORDER BY seq DESC LIMIT ?", (limit,)
        )
    ]
    return [_item(conn, s) for s in seqs]


def release_gone_claims(conn: sqlite3.Connection, *, now: datetime | None = None) -> list[Released]:
    """Make the 'sending' rows of every owner that is gone (`liveness.owner_gone`: dead, a
    zombie, a reused pid, replaced, silent) claimable at once; live owners and owners that
    cannot be judged keep theirs (the latter until CLAIM_LEASE_S). Writes only when an owner
    is gone (a gone owner claims nothing new, and the release is a compare-and-set on it)."""
    now = now or utcnow()
    gone = []
    for owner, since in conn.execute(CLAIM_OWNERS_SQL).fetchall():
        held_since = parse_iso(since) if since else None
        reason = owner_gone(conn, owner, held_since=held_since, now=now)
        if reason is not None:
            gone.append((owner, reason))
    if not gone:
        return []
    with tx(conn):
        return [
            Released(owner, reason, conn.execute(RELEASE_SQL, (iso(now), owner)).rowcount)
            for owner, reason in gone
        ]


def backlog_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Outbox rows per unfinished status (pending, sending, failed, dead), via the status index;
    sent rows are never counted, so the cost stays with the backlog, not the history."""
    counts = {s: 0 for s in BACKLOG_STATUSES}
    sql = "SELECT COUNT(*) FROM outbox WHERE status = ?"
    for status in BACKLOG_STATUSES:
        counts[status] = int(conn.execute(sql, (status,)).fetchone()[0])
    return counts


def outbox_counts_for(conn: sqlite3.Connection, folders: list[str]) -> dict[str, int]:
    """Outbox rows per unfinished status, only for messages of these folders' chats."""
    counts = {s: 0 for s in BACKLOG_STATUSES}
    if not folders:
        return counts
    where, params = and_chat_in_folders(conn, "m.chat_jid", folders)
    sql = (
        # CROSS JOIN keeps outbox first: its few unfinished rows via the status index, rather
        # than every message of these chats.
        "SELECT o.status, COUNT(*) FROM outbox o CROSS JOIN messages m ON m.seq = o.seq "
        "WHERE o.status IN ('pending', 'sending', 'failed', 'dead')" + where + " GROUP BY o.status"
    )
    for status, n in conn.execute(sql, params):
        counts[status] = n
    return counts


def dead_letters_for(
    conn: sqlite3.Connection, folders: list[str] | None, limit: int = 20
) -> list[sqlite3.Row]:
    """The latest dead outbox rows with their message (seq, chat_jid, content, last_error),
    of these folders' chats (None: all)."""
    sql = (
        "SELECT o.seq, m.chat_jid, m.content, o.attempts, o.last_error, o.next_attempt_at "
        "FROM outbox o CROSS JOIN messages m ON m.seq = o.seq WHERE o.status = 'dead'"
    )
    params: list[object] = []
    if folders is not None:
        if not folders:
            return []
        where, more = and_chat_in_folders(conn, "m.chat_jid", folders)
        sql += where
        params += more
    # `+o.seq`: sort the few dead rows found by the status index instead of walking the whole
    # outbox backwards by primary key.
    sql += " ORDER BY +o.seq DESC LIMIT ?"
    params.append(limit)
    return conn.execute(sql, params).fetchall()


def outbox_states(conn: sqlite3.Connection, seqs: list[int]) -> dict[int, str]:
    """Delivery status of those outbound messages that have an outbox row (by seq)."""
    if not seqs:
        return {}
    rows = conn.execute(
        f"SELECT seq, status FROM outbox WHERE seq IN ({','.join('?' * len(seqs))})", seqs
    )
    return {int(r[0]): str(r[1]) for r in rows}


def parts_done(conn: sqlite3.Connection, seq: int) -> int:
    """How many leading parts of outbound message `seq` were already delivered."""
    value = get_state(conn, bus.delivery_parts(seq))
    return int(value) if value and value.isdigit() else 0


def record_parts_done(conn: sqlite3.Connection, seq: int, done: int) -> None:
    set_state(conn, bus.delivery_parts(seq), str(done))


def clear_parts(conn: sqlite3.Connection, seq: int) -> None:
    """Forget the progress of `seq` (joins the caller's transaction, e.g. with mark_sent)."""
    with tx(conn):
        conn.execute("DELETE FROM router_state WHERE key = ?", (bus.delivery_parts(seq),))
