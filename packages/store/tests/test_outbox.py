"""The outbox: storing outbound messages, claiming, back-off on failure, dead letters, stale
claims, with the clock passed in."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
import store
from store.outbox import BACKOFF_BASE_S, BACKOFF_CAP_S, CLAIM_LEASE_S


def test_store_outbound_writes_message_and_pending_row(db: sqlite3.Connection) -> None:
    seq = store.store_outbound(db, "web:demo", "hi there", group_folder="demo", topic="t")
    msg = store.get_message(db, seq)
    assert msg is not None
    assert msg.is_from_me
    assert msg.source == "agent"
    assert msg.group_folder == "demo"
    assert msg.id.startswith("out:")
    assert msg.topic == "t"
    item = store.outbox_status(db, seq)
    assert item is not None
    assert (item.status, item.attempts, item.channel) == ("pending", 0, "web")
    assert store.outbox_counts(db)["pending"] == 1


def test_store_outbound_with_the_same_id_is_idempotent(db: sqlite3.Connection) -> None:
    a = store.store_outbound(db, "web:demo", "once", msg_id="reply-1")
    b = store.store_outbound(db, "web:demo", "once", msg_id="reply-1")
    assert a == b
    assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"chat_jid": "no colon", "content": "x"}, "chat_jid"),
        ({"chat_jid": "web:demo", "content": "   "}, "content"),
        ({"chat_jid": "web:demo", "content": "x", "group_folder": "../etc"}, "group_folder"),
        ({"chat_jid": "web:demo", "content": "x", "topic": "a\nb"}, "topic"),
    ],
)
def test_store_outbound_rejects_bad_input_and_writes_nothing(
    db: sqlite3.Connection, kwargs: dict[str, str], field: str
) -> None:
    chat_jid = kwargs.pop("chat_jid")
    content = kwargs.pop("content")
    with pytest.raises(store.InvalidInput) as err:
        store.store_outbound(db, chat_jid, content, **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_claim_takes_due_rows_once_in_order(db: sqlite3.Connection) -> None:
    seqs = [store.store_outbound(db, "web:demo", f"m{i}") for i in range(5)]
    now = store.utcnow() + timedelta(seconds=1)
    first = store.claim_outbound(db, "a", now=now, limit=3)
    second = store.claim_outbound(db, "b", now=now, limit=3)
    assert [i.seq for i in first] == seqs[:3]
    assert [i.seq for i in second] == seqs[3:]
    assert store.claim_outbound(db, "c", now=now) == []
    assert all(i.status == "sending" and i.attempts == 1 for i in first + second)
    assert first[0].content == "m0"
    assert first[0].chat_jid == "web:demo"


def test_mark_sent_settles_only_a_claimed_row(db: sqlite3.Connection) -> None:
    seq = store.store_outbound(db, "web:demo", "hi")
    assert store.mark_sent(db, seq) is False  # not claimed yet
    store.claim_outbound(db, "a", now=store.utcnow() + timedelta(seconds=1))
    assert store.mark_sent(db, seq, remote_id="r-1") is True
    assert store.mark_sent(db, seq) is False
    row = db.execute("SELECT status, remote_id, sent_at FROM outbox").fetchone()
    assert (row["status"], row["remote_id"]) == ("sent", "r-1")
    assert row["sent_at"]
    item = store.outbox_status(db, seq)
    assert item is not None
    assert (item.status, item.remote_id) == ("sent", "r-1")
    assert store.mark_sent(db, 999_999) is False


def test_failed_row_is_retried_after_back_off_then_dead(db: sqlite3.Connection) -> None:
    seq = store.store_outbound(db, "web:demo", "flaky")
    now = store.utcnow() + timedelta(seconds=1)
    for attempt in range(1, 4):
        [item] = store.claim_outbound(db, "w", now=now)
        assert item.attempts == attempt
        assert store.mark_failed(db, seq, f"boom {attempt}", now=now, max_attempts=3) == (
            "dead" if attempt == 3 else "failed"
        )
        if attempt == 3:
            break
        delay = BACKOFF_BASE_S * 2 ** (attempt - 1)
        # Not before the back-off (jitter is at most -20 %) ...
        assert store.claim_outbound(db, "w", now=now + timedelta(seconds=delay * 0.79)) == []
        # ... and due once it has passed (jitter at most +20 %).
        now += timedelta(seconds=delay * 1.21)
    item = store.outbox_status(db, seq)
    assert item is not None
    assert (item.status, item.attempts, item.last_error) == ("dead", 3, "boom 3")
    assert store.claim_outbound(db, "w", now=now + timedelta(days=1)) == []
    assert [d.seq for d in store.dead_letters(db)] == [seq]
    assert store.outbox_counts(db)["dead"] == 1


def test_permanent_failure_is_dead_at_once(db: sqlite3.Connection) -> None:
    seq = store.store_outbound(db, "web:demo", "bad address")
    store.claim_outbound(db, "w", now=store.utcnow() + timedelta(seconds=1))
    assert store.mark_failed(db, seq, "550 no such user", permanent=True) == "dead"


def test_mark_failed_on_an_unclaimed_row_changes_nothing(db: sqlite3.Connection) -> None:
    seq = store.store_outbound(db, "web:demo", "hi")
    assert store.mark_failed(db, seq, "late report") == "pending"
    assert store.outbox_status(db, seq).status == "pending"  # type: ignore[union-attr]


def test_stale_sending_claim_is_reclaimed(db: sqlite3.Connection) -> None:
    seq = store.store_outbound(db, "web:demo", "orphaned")
    now = store.utcnow() + timedelta(seconds=1)
    [first] = store.claim_outbound(db, "dead-worker", now=now)
    assert store.claim_outbound(db, "other", now=now + timedelta(seconds=CLAIM_LEASE_S - 1)) == []
    [again] = store.claim_outbound(db, "other", now=now + timedelta(seconds=CLAIM_LEASE_S + 1))
    assert (again.seq, again.attempts) == (first.seq, 2)
    claimed_by = db.execute("SELECT claimed_by FROM outbox WHERE seq = ?", (seq,)).fetchone()[0]
    assert claimed_by == "other"


def test_backoff_grows_and_is_capped() -> None:
    for attempts in range(1, 20):
        d = store.backoff_delay(attempts)
        expected = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempts - 1))
        assert expected * 0.8 <= d <= expected * 1.2


def test_next_due_at_is_the_earliest_waiting_row(db: sqlite3.Connection) -> None:
    assert store.next_due_at(db) is None
    store.store_outbound(db, "web:demo", "a")
    first_due = db.execute("SELECT MIN(next_attempt_at) FROM outbox").fetchone()[0]
    store.store_outbound(db, "web:demo", "b")
    assert store.next_due_at(db) == first_due


def test_outbox_status_of_an_inbound_message_is_none(db: sqlite3.Connection) -> None:
    r = store.put_message(db, store.NewMessage(id="in-1", chat_jid="web:demo", content="hi"))
    assert store.outbox_status(db, r.seq) is None


@pytest.mark.parametrize(("claimer", "limit", "field"), [("", 5, "claimer"), ("w", 0, "limit")])
def test_bad_claim_is_rejected_and_claims_nothing(
    db: sqlite3.Connection, claimer: str, limit: int, field: str
) -> None:
    store.store_outbound(db, "web:demo", "waiting")
    with pytest.raises(store.InvalidInput) as err:
        store.claim_outbound(db, claimer, now=store.utcnow() + timedelta(seconds=1), limit=limit)
    assert err.value.field == field
    assert store.outbox_counts(db)["pending"] == 1
