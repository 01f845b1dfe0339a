"""Storing and reading messages: idempotency, cursors, the chats upsert, bad input."""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
import store
from hypothesis import given, settings
from hypothesis import strategies as st
from store.validate import MAX_CONTENT_BYTES
from testkit.postgres_fixture import BOTH_BACKENDS


def msg(i: int | str, chat: str = "web:demo", **kw: object) -> store.NewMessage:
    return store.NewMessage(id=str(i), chat_jid=chat, content=f"hello {i}", **kw)  # type: ignore[arg-type]


def count(db: store.Conn, table: str = "messages") -> int:
    return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@BOTH_BACKENDS
def test_redelivered_message_is_stored_once_with_the_same_seq(db: store.Conn) -> None:
    first = store.put_message(db, msg("abc", sender="u1", sender_name="Ann"))
    again = store.put_message(db, replace(msg("abc"), content="a different body"))
    assert first == store.PutResult(seq=first.seq, duplicate=False)
    assert again == store.PutResult(seq=first.seq, duplicate=True)
    assert count(db) == 1
    stored = store.get_message(db, first.seq)
    assert stored is not None
    assert stored.content == "hello abc"
    assert stored.sender_name == "Ann"


@BOTH_BACKENDS
def test_same_id_in_two_chats_is_two_messages(db: store.Conn) -> None:
    a = store.put_message(db, msg(1, "web:a"))
    b = store.put_message(db, msg(1, "web:b"))
    assert a.seq != b.seq
    assert not b.duplicate


@BOTH_BACKENDS
def test_message_round_trips_every_field(db: store.Conn) -> None:
    new = store.NewMessage(
        id="m1",
        chat_jid="email:ann@example.org",
        content="body",
        sender="ann@example.org",
        sender_name="Ann",
        timestamp="2026-11-23T05:54:53.123Z",
        verb="command",
        source="email",
        group_folder="demo",
        topic="billing",
        is_from_me=False,
        reply_to_id="m0",
        attachments=[{"name": "a.txt", "type": "text/plain", "size": 3}],
        chat_name="Ann's chat",
    )
    seq = store.put_message(db, new).seq
    got = store.find_message(db, "email:ann@example.org", "m1")
    assert got == store.get_message(db, seq)
    assert got is not None
    assert (got.verb, got.source, got.group_folder, got.topic) == (
        "command",
        "email",
        "demo",
        "billing",
    )
    assert got.attachments == [{"name": "a.txt", "type": "text/plain", "size": 3}]
    assert got.timestamp == "2026-11-23T05:54:53.123Z"
    assert got.reply_to_id == "m0"
    assert store.find_message(db, "email:ann@example.org", "nope") is None
    assert store.get_message(db, 12345) is None


@BOTH_BACKENDS
def test_a_mention_and_an_edit_target_round_trip(db: store.Conn) -> None:
    mention = store.NewMessage(id="m1", chat_jid="tg:1", content="hi bot", mentions_bot=True)
    edit = store.NewMessage(id="e1", chat_jid="tg:1", content="hi!", verb="edit", target_id="m1")
    first, second = (store.get_message(db, store.put_message(db, m).seq) for m in (mention, edit))
    assert first is not None
    assert second is not None
    assert (first.mentions_bot, first.target_id) == (True, None)
    assert (second.mentions_bot, second.verb, second.target_id) == (False, "edit", "m1")


def test_a_target_id_with_invisible_characters_is_refused(db: sqlite3.Connection) -> None:
    bad = store.NewMessage(id="e1", chat_jid="tg:1", content="x", verb="edit", target_id="m\u200b1")
    with pytest.raises(store.InvalidInput, match="target_id"):
        store.put_message(db, bad)


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@BOTH_BACKENDS
def test_a_traceparent_round_trips(db: store.Conn) -> None:
    seq = store.put_message(db, msg(1, traceparent=TRACEPARENT)).seq
    got = store.get_message(db, seq)
    assert got is not None
    assert got.traceparent == TRACEPARENT
    assert store.new_messages(db, 0)[0].traceparent == TRACEPARENT
    plain = store.get_message(db, store.put_message(db, msg(2)).seq)
    assert plain is not None
    assert plain.traceparent is None


def test_a_traceparent_reaches_the_outbox_item(db: sqlite3.Connection) -> None:
    out = store.store_outbound(db, "web:demo", "reply", msg_id="r1", traceparent=TRACEPARENT)
    (item,) = store.claim_outbound(db, "test")
    assert (item.seq, item.traceparent) == (out, TRACEPARENT)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "garbage",
        TRACEPARENT.upper(),
        TRACEPARENT + "\n",
        TRACEPARENT + "-extra",
        "01" + TRACEPARENT[2:],  # only version 00 is written
        "00-" + "g" * 32 + TRACEPARENT[35:],
        TRACEPARENT.replace("-", "_"),
    ],
)
@BOTH_BACKENDS
def test_a_traceparent_must_be_a_w3c_one(db: store.Conn, bad: str) -> None:
    with pytest.raises(store.InvalidInput, match="traceparent"):
        store.put_message(db, msg(1, traceparent=bad))
    assert count(db) == 0


@BOTH_BACKENDS
def test_put_message_upserts_the_chat(db: store.Conn) -> None:
    store.put_message(db, msg(1, timestamp="2026-01-01T00:00:00.000Z", chat_name="Demo"))
    store.put_message(db, msg(2, timestamp="2025-01-01T00:00:00.000Z"))  # late, older
    chat = store.get_chat(db, "web:demo")
    assert chat is not None
    assert (chat.name, chat.channel, chat.last_message_at) == (
        "Demo",
        "web",
        "2026-01-01T00:00:00.000Z",
    )
    assert store.get_chat(db, "web:nobody") is None


@BOTH_BACKENDS
def test_put_messages_stores_a_batch_and_reports_duplicates(db: store.Conn) -> None:
    store.put_message(db, msg(0, timestamp="2025-06-01T00:00:00.000Z"))
    results = store.put_messages(
        db,
        [
            msg(0),
            msg(1, timestamp="2026-01-02T00:00:00.000Z"),
            msg(2, timestamp="2026-01-01T00:00:00.000Z", chat_name="Named"),
            msg(3, "web:other"),
        ],
    )
    assert [r.duplicate for r in results] == [True, False, False, False]
    assert [r.seq for r in results[1:]] == sorted(r.seq for r in results[1:])
    chat = store.get_chat(db, "web:demo")
    assert chat is not None
    assert (chat.name, chat.last_message_at) == ("Named", "2026-01-02T00:00:00.000Z")
    assert store.get_chat(db, "web:other") is not None


@BOTH_BACKENDS
def test_put_messages_of_nothing_stores_nothing(db: store.Conn) -> None:
    assert store.put_messages(db, []) == []
    assert count(db) == 0


@BOTH_BACKENDS
def test_put_messages_with_one_bad_message_writes_nothing(db: store.Conn) -> None:
    with pytest.raises(store.InvalidInput):
        store.put_messages(db, [msg(1), store.NewMessage(id="2", chat_jid="web:demo", content="")])
    assert count(db) == 0
    assert count(db, "chats") == 0


@BOTH_BACKENDS
def test_new_messages_follows_seq_with_a_limit(db: store.Conn) -> None:
    seqs = [store.put_message(db, msg(i, f"web:c{i % 2}")).seq for i in range(7)]
    page = store.new_messages(db, 0, limit=3)
    assert [m.seq for m in page] == seqs[:3]
    assert [m.seq for m in store.new_messages(db, page[-1].seq)] == seqs[3:]
    assert store.new_messages(db, seqs[-1]) == []
    assert store.latest_seq(db) == seqs[-1]


@BOTH_BACKENDS
def test_messages_since_and_before_page_one_chat(db: store.Conn) -> None:
    seqs = [store.put_message(db, msg(i, f"web:c{i % 2}")).seq for i in range(10)]
    c0 = seqs[0::2]
    assert [m.seq for m in store.messages_since(db, "web:c0", 0)] == c0
    assert [m.seq for m in store.messages_since(db, "web:c0", c0[1], limit=2)] == c0[2:4]
    assert [m.seq for m in store.messages_before(db, "web:c0", None, limit=2)] == c0[-2:]
    assert [m.seq for m in store.messages_before(db, "web:c0", c0[2])] == c0[:2]
    assert store.messages_since(db, "web:none", 0) == []


@BOTH_BACKENDS
def test_latest_seq_of_an_empty_store_is_zero(db: store.Conn) -> None:
    assert store.latest_seq(db) == 0


def test_outbound_ids_are_unique() -> None:
    ids = {store.new_outbound_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("out:") for i in ids)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"chat_jid": "demo"}, "chat_jid"),
        ({"chat_jid": "web:has space"}, "chat_jid"),
        ({"id": ""}, "id"),
        ({"id": "x" * 513}, "id"),
        ({"content": ""}, "content"),
        ({"content": " \n\t"}, "content"),
        ({"content": "x" * (MAX_CONTENT_BYTES + 1)}, "content"),
        ({"content": "é" * (MAX_CONTENT_BYTES // 2 + 1)}, "content"),  # bytes, not chars
        ({"content": "a\x00b"}, "content"),  # PostgreSQL text holds no NUL
        ({"sender": "a\x00b"}, "sender"),
        ({"verb": ""}, "verb"),
        ({"group_folder": "../up"}, "group_folder"),
        ({"topic": "t\r"}, "topic"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "2026-01-01T00:00:00"}, "timestamp"),  # naive
        ({"attachments": {"name": "x"}}, "attachments"),
        ({"attachments": [{"blob": "x" * 70_000}]}, "attachments"),
    ],
)
def test_bad_message_is_rejected_naming_the_field(
    db: sqlite3.Connection, change: dict[str, object], field: str
) -> None:
    with pytest.raises(store.InvalidInput) as err:
        store.put_message(db, replace(msg(1), **change))  # type: ignore[arg-type]
    assert err.value.field == field
    assert field in str(err.value)
    assert count(db) == 0


def test_content_at_the_size_limit_is_accepted(db: sqlite3.Connection) -> None:
    r = store.put_message(db, replace(msg(1), content="x" * MAX_CONTENT_BYTES))
    assert not r.duplicate


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["web:a", "web:b", "email:c@d.e"]), st.integers(0, 15)),
        max_size=40,
    )
)
def test_any_delivery_order_stores_each_chat_and_id_once(deliveries: list[tuple[str, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        conn = store.open(Path(tmp) / "m.db")
        first_seq: dict[tuple[str, int], int] = {}
        for chat, n in deliveries:
            r = store.put_message(conn, msg(n, chat))
            key = (chat, n)
            assert r.duplicate == (key in first_seq)
            assert r.seq == first_seq.setdefault(key, r.seq)
        rows = conn.execute("SELECT chat_jid, id, seq FROM messages ORDER BY seq").fetchall()
        conn.close()
    assert [(c, int(i)) for c, i, _ in rows] == list(first_seq)  # first-delivery order
    assert [s for _, _, s in rows] == sorted(first_seq.values())


@pytest.mark.parametrize("limit", [0, -1])
def test_page_readers_reject_a_limit_below_one(db: sqlite3.Connection, limit: int) -> None:
    store.put_message(db, msg(1))
    for read in (
        lambda: store.new_messages(db, 0, limit=limit),
        lambda: store.messages_since(db, "web:demo", 0, limit=limit),
        lambda: store.messages_before(db, "web:demo", None, limit=limit),
    ):
        with pytest.raises(store.InvalidInput, match="limit: must be at least 1"):
            read()


@BOTH_BACKENDS
def test_pages_are_capped(db: store.Conn) -> None:
    store.put_messages(db, [msg(i) for i in range(1005)])
    assert len(store.new_messages(db, 0, limit=5000)) == 1000


@BOTH_BACKENDS
def test_timestamps_are_stored_normalised_so_the_chat_order_is_time_order(
    db: store.Conn,
) -> None:
    store.put_message(db, msg(1, timestamp="2026-11-23T10:30:00+01:00"))
    store.put_message(db, msg(2, timestamp="20261123T090000Z"))  # basic format, earlier
    stored = [m.timestamp for m in store.new_messages(db, 0)]
    assert stored == ["2026-11-23T09:30:00.000Z", "2026-11-23T09:00:00.000Z"]
    chat = store.get_chat(db, "web:demo")
    assert chat is not None
    assert chat.last_message_at == "2026-11-23T09:30:00.000Z"


@pytest.mark.parametrize(
    "stamp", ["9999-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "2026-W01-1T00:00", "yesterday"]
)
def test_absurd_timestamps_are_refused_and_nothing_is_stored(
    db: sqlite3.Connection, stamp: str
) -> None:
    with pytest.raises(store.InvalidInput, match="timestamp"):
        store.put_message(db, msg(1, timestamp=stamp))
    assert count(db) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("chat_name", "x" * 200_000),
        ("chat_name", "room\x1b[2J"),
        ("chat_name", "room\n"),
        ("sender_name", "Ann\u202e"),
        ("sender", "ann\u200b"),
        ("sender", "ann\x85"),
        ("reply_to_id", "m0\u2060"),
    ],
)
def test_names_and_ids_with_controls_invisibles_or_huge_lengths_are_refused(
    db: sqlite3.Connection, field: str, value: str
) -> None:
    with pytest.raises(store.InvalidInput) as err:
        store.put_message(db, msg(1, **{field: value}))
    assert err.value.field == field
    assert count(db) == 0
    assert count(db, "chats") == 0


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_nan_or_infinity_in_attachments_is_refused(db: sqlite3.Connection, number: float) -> None:
    with pytest.raises(store.InvalidInput, match="attachments"):
        store.put_message(db, msg(1, attachments=[{"size": number}]))
    assert count(db) == 0
