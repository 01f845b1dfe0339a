"""store.rates: per-chat counts over a time window (the email channel's per-sender limits)."""

from __future__ import annotations

import sqlite3

import store
from store.rates import received_since, sent_since


def test_received_since_counts_one_chats_incoming_messages_of_a_verb(
    db: sqlite3.Connection,
) -> None:
    def put(msg_id: str, jid: str, ts: str, verb: str = "message") -> None:
        store.put_message(
            db, store.NewMessage(id=msg_id, chat_jid=jid, content="x", timestamp=ts, verb=verb)
        )

    put("a", "email:a@x.org", "2026-11-23T10:00:00.000Z")
    put("b", "email:a@x.org", "2026-11-23T11:00:00.000Z")
    put("c", "email:a@x.org", "2026-11-23T11:30:00.000Z", verb="ignored")
    put("d", "email:b@x.org", "2026-11-23T11:30:00.000Z")
    store.store_outbound(db, "email:a@x.org", "ours")
    assert received_since(db, "email:a@x.org", "2026-11-23T10:30:00.000Z") == 1
    assert received_since(db, "email:a@x.org", "") == 2
    assert received_since(db, "email:a@x.org", "", verb="ignored") == 1
    assert received_since(db, "email:nobody@x.org", "") == 0


def test_sent_since_counts_only_delivered_outbound(db: sqlite3.Connection) -> None:
    seqs = [store.store_outbound(db, "email:a@x.org", f"m{i}") for i in range(3)]
    store.store_outbound(db, "email:b@x.org", "other chat")
    claimed = {i.seq for i in store.claim_outbound(db, "t")}
    assert set(seqs) <= claimed
    store.mark_sent(db, seqs[0])
    store.mark_sent(db, seqs[1])
    store.mark_failed(db, seqs[2], "boom")
    assert sent_since(db, "email:a@x.org", "") == 2
    assert sent_since(db, "email:a@x.org", "9999") == 0
    assert sent_since(db, "email:b@x.org", "") == 0
