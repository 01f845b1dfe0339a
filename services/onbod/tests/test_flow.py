"""The onboarding dialogue against a real onbod process: greeting, rules, pending, operators
notified, approval with the hand-off, rejection, duplicate names and the hourly cap."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import store
from onbod import api, handoff
from onbod_harness import Onbod, add_operator, replies, say, wait_for, wait_settled
from store.paths import group_path

STRANGER = "tg:1001"


def status_of(conn: sqlite3.Connection, jid: str) -> str | None:
    row = api.get(conn, jid)
    return row.status if row else None


def make_pending(conn: sqlite3.Connection, jid: str, name: str, first: str = "hi there") -> int:
    """Drive a chat through greeting and naming (onbod must be running); returns first seq."""
    first_seq = say(conn, jid, first)
    wait_for(lambda: len(replies(conn, jid)) == 1, what="greeting")
    say(conn, jid, name)
    wait_for(lambda: status_of(conn, jid) == "pending", what=f"{jid} pending")
    return first_seq


def test_stranger_is_greeted_told_the_rules_then_pending_and_operators_notified(
    conn: sqlite3.Connection, onbod: Callable[..., Onbod]
) -> None:
    add_operator(conn)
    onbod()
    say(conn, STRANGER, "Hello, can you help me plan a trip to Lisbon?")
    greeting = wait_for(lambda: replies(conn, STRANGER), what="greeting")
    assert len(greeting) == 1
    assert "name for your world" in greeting[0]
    assert "lowercase letters, digits and dashes" in greeting[0]
    assert status_of(conn, STRANGER) == "awaiting_name"

    say(conn, STRANGER, "My World!")
    told = wait_for(lambda: replies(conn, STRANGER)[1:], what="rules")
    assert "cannot be a world name" in told[0]
    assert "lowercase" in told[0]
    assert status_of(conn, STRANGER) == "awaiting_name"

    say(conn, STRANGER, "my-world")
    wait_for(lambda: status_of(conn, STRANGER) == "pending", what="pending")
    wait_settled(conn)
    said = replies(conn, STRANGER)
    assert len(said) == 3
    assert "awaits an operator's approval" in said[2]
    row = api.get(conn, STRANGER)
    assert row is not None
    assert row.world_name == "my-world"
    assert row.first_message == "Hello, can you help me plan a trip to Lisbon?"
    [notice] = replies(conn, "tg:ops")
    assert STRANGER in notice
    assert "my-world" in notice
    assert "plan a trip to Lisbon" in notice
    assert [p.jid for p in api.pending(conn)] == [STRANGER]


def test_approve_registers_the_group_and_hands_off_the_first_message_once(
    db: Path, conn: sqlite3.Connection, onbod: Callable[..., Onbod]
) -> None:
    add_operator(conn)
    onbod()
    first_seq = make_pending(conn, STRANGER, "my-world", first="What's the weather in Porto?")
    original = store.get_message(conn, first_seq)
    assert original is not None

    decision = api.approve(conn, STRANGER, "tg:ops")
    assert decision.ok, decision.message
    assert decision.onboarding is not None
    assert decision.onboarding.status == "approved"
    assert decision.onboarding.decided_by == "tg:ops"

    group = store.get_group(conn, STRANGER)
    assert group is not None
    assert group.folder == "my-world"
    assert store.folder_settings(conn, group.folder).sandbox == "bwrap"
    assert [(r.type, r.target) for r in store.routes_for(conn, STRANGER)] == [
        ("default", "my-world")
    ]
    world = db.parent / "groups" / "my-world"
    assert sorted(p.name for p in world.iterdir()) == ["CLAUDE.md", "memory"]
    assert (world / "CLAUDE.md").read_text().startswith("# my-world\n")
    handoffs = conn.execute(
        "SELECT * FROM messages WHERE chat_jid = ? AND id = ?",
        (STRANGER, f"onboard:{original.id}"),
    ).fetchall()
    assert len(handoffs) == 1
    handoff = store.Message.from_row(handoffs[0])
    assert handoff.content == "What's the weather in Porto?"
    assert handoff.source == "onbod"
    assert handoff.reply_to_id == original.id
    assert handoff.sender == original.sender
    assert not handoff.is_from_me
    assert handoff.seq > first_seq
    assert "was approved" in replies(conn, STRANGER)[-1]

    again = api.approve(conn, STRANGER, "web:admin")
    assert not again.ok
    assert "already approved by tg:ops" in again.message
    wait_settled(conn)
    # Registered now: onbod leaves the chat to gated and says nothing more.
    before = len(replies(conn, STRANGER))
    say(conn, STRANGER, "thanks!")
    wait_settled(conn)
    assert len(replies(conn, STRANGER)) == before
    count = conn.execute("SELECT COUNT(*) FROM messages WHERE id LIKE 'onboard:%'").fetchone()[0]
    assert count == 1


def test_reject_tells_the_sender_the_reason(
    conn: sqlite3.Connection, onbod: Callable[..., Onbod]
) -> None:
    onbod()
    make_pending(conn, STRANGER, "spam-world")
    decision = api.reject(conn, STRANGER, "web:admin", "not a customer")
    assert decision.ok, decision.message
    said = replies(conn, STRANGER)
    assert "was not approved" in said[-1]
    assert "Reason: not a customer" in said[-1]
    assert store.get_group(conn, STRANGER) is None
    again = api.reject(conn, STRANGER, "web:other")
    assert not again.ok
    assert "already rejected by web:admin" in again.message
    assert not api.approve(conn, STRANGER, "web:other").ok
    # A rejected chat is never answered again.
    before = len(replies(conn, STRANGER))
    say(conn, STRANGER, "please?")
    wait_settled(conn)
    assert len(replies(conn, STRANGER)) == before
    assert store.get_group(conn, STRANGER) is None


def test_a_taken_name_is_refused_and_another_accepted(
    conn: sqlite3.Connection, onbod: Callable[..., Onbod]
) -> None:
    add_operator(conn)
    onbod("--prompt-interval", "0")
    make_pending(conn, "tg:1", "garden")
    other = "tg:2"
    say(conn, other, "hello")
    wait_for(lambda: len(replies(conn, other)) == 1, what="greeting")
    say(conn, other, "garden")
    wait_for(lambda: len(replies(conn, other)) == 2, what="taken (pending)")
    assert 'The world name "garden" is already taken' in replies(conn, other)[1]
    say(conn, other, "ops")
    wait_for(lambda: len(replies(conn, other)) == 3, what="taken (registered folder)")
    assert '"ops" is already taken' in replies(conn, other)[2]
    say(conn, other, "garden-2")
    wait_for(lambda: status_of(conn, other) == "pending", what="pending")
    assert {p.world_name for p in api.pending(conn)} == {"garden", "garden-2"}


def test_asking_again_is_limited_to_once_per_interval(
    conn: sqlite3.Connection, onbod: Callable[..., Onbod]
) -> None:
    onbod()
    say(conn, STRANGER, "hello")
    wait_for(lambda: len(replies(conn, STRANGER)) == 1, what="greeting")
    for bad in ("Bad Name", "x", "!!!", "UPPER"):
        say(conn, STRANGER, bad)
    wait_settled(conn)
    said = replies(conn, STRANGER)
    assert len(said) == 2, said
    assert '"Bad Name" cannot be a world name' in said[1]
    row = api.get(conn, STRANGER)
    assert row is not None
    assert row.messages == 5
    assert row.prompts == 2


def test_hourly_cap_on_new_requests(conn: sqlite3.Connection, onbod: Callable[..., Onbod]) -> None:
    onbod("--max-pending-per-hour", "1")
    make_pending(conn, "tg:1", "first-world")
    say(conn, "tg:2", "hello")
    wait_for(lambda: len(replies(conn, "tg:2")) == 1, what="greeting")
    say(conn, "tg:2", "second-world")
    wait_for(lambda: len(replies(conn, "tg:2")) == 2, what="busy reply")
    assert "many requests" in replies(conn, "tg:2")[1]
    assert status_of(conn, "tg:2") == "awaiting_name"
    assert [p.jid for p in api.pending(conn)] == ["tg:1"]


def test_hourly_cap_on_greetings_defers_the_greeting(
    conn: sqlite3.Connection, onbod: Callable[..., Onbod]
) -> None:
    onbod("--max-greetings-per-hour", "1")
    say(conn, "tg:1", "hello")
    wait_for(lambda: replies(conn, "tg:1"), what="greeting")
    say(conn, "tg:2", "hello too")
    say(conn, "tg:2", "anyone?")
    wait_settled(conn)
    assert replies(conn, "tg:2") == []
    row = api.get(conn, "tg:2")
    assert row is not None
    assert (row.status, row.greeted_at, row.messages) == ("awaiting_name", None, 2)
    assert row.first_message == "hello too"


def test_a_pending_chat_is_reminded_once_per_interval(
    conn: sqlite3.Connection, onbod: Callable[..., Onbod]
) -> None:
    onbod("--reminder-interval", "0")
    make_pending(conn, STRANGER, "patient-world")
    say(conn, STRANGER, "any news?")
    wait_for(lambda: len(replies(conn, STRANGER)) == 3, what="reminder")
    assert 'Your world "patient-world" is still awaiting' in replies(conn, STRANGER)[2]
    row = api.get(conn, STRANGER)
    assert row is not None
    assert row.reminded_at is not None


def test_a_world_that_did_not_come_to_be_gives_its_name_back(conn: sqlite3.Connection) -> None:
    """The directory made before the approval holds the seed (persona, memory/); undoing it
    removes the untouched seed, and a leftover seed does not make the name taken."""
    handoff.make_group_dir(conn, "lost-world")
    path = group_path(conn, "lost-world")
    assert sorted(p.name for p in path.iterdir()) == ["CLAUDE.md", "memory"]
    assert handoff.taken_reason(conn, "lost-world", STRANGER) is None
    handoff.remove_empty_group_dir(conn, "lost-world")
    assert not path.exists()

    handoff.make_group_dir(conn, "kept-world")
    kept = group_path(conn, "kept-world")
    (kept / "memory" / "notes.md").write_text("someone's notes")
    assert "non-empty group directory" in (handoff.taken_reason(conn, "kept-world", STRANGER) or "")
    handoff.remove_empty_group_dir(conn, "kept-world")
    assert (kept / "memory" / "notes.md").exists()
