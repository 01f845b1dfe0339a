"""The `closed` and `open` policies, chosen by flag or SWITCHBOARD_ONBOARDING_POLICY."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import store
from onbod import api
from onbod_harness import Onbod, add_operator, handoff_count, replies, say, wait_for, wait_settled


def test_closed_policy_records_unknown_chats_and_never_answers(
    conn: sqlite3.Connection, onbod: Callable[..., Onbod]
) -> None:
    add_operator(conn)
    onbod(env={"SWITCHBOARD_ONBOARDING_POLICY": "closed"})
    say(conn, "tg:1", "let me in")
    say(conn, "tg:1", "please")
    say(conn, "tg:2", "hello?")
    wait_settled(conn)
    assert replies(conn, "tg:1") == []
    assert replies(conn, "tg:2") == []
    assert replies(conn, "tg:ops") == []
    rows = {r.jid: r for r in api.list_onboarding(conn)}
    assert set(rows) == {"tg:1", "tg:2"}
    assert rows["tg:1"].status == "ignored"
    assert rows["tg:1"].first_message == "let me in"
    assert rows["tg:1"].messages == 2
    assert store.get_group(conn, "tg:1") is None
    refused = api.approve(conn, "tg:1", "web:admin")
    assert not refused.ok
    assert "policy closed" in refused.message


def test_closed_chat_is_greeted_when_the_policy_becomes_approval(
    conn: sqlite3.Connection, onbod: Callable[..., Onbod]
) -> None:
    closed = onbod("--policy", "closed")
    say(conn, "tg:1", "let me in")
    wait_settled(conn)
    closed.stop()
    onbod("--policy", "approval")
    say(conn, "tg:1", "anyone there?")
    wait_for(lambda: replies(conn, "tg:1"), what="greeting")
    row = api.get(conn, "tg:1")
    assert row is not None
    assert row.status == "awaiting_name"
    assert row.first_message == "anyone there?"


def test_open_policy_registers_at_once_and_hands_off_the_message(
    db: Path, conn: sqlite3.Connection, onbod: Callable[..., Onbod]
) -> None:
    store.register_group(conn, "web:taken", "tg-77")  # the generated name must avoid it
    onbod("--policy", "open")
    seq = say(conn, "tg:77", "what can you do?", msg_id="m1")
    wait_for(lambda: store.get_group(conn, "tg:77"), what="registration")
    wait_settled(conn)
    group = store.get_group(conn, "tg:77")
    assert group is not None
    assert group.folder == "tg-77-2"
    assert (db.parent / "groups" / "tg-77-2").is_dir()
    handoff = store.find_message(conn, "tg:77", "onboard:m1")
    assert handoff is not None
    assert handoff.content == "what can you do?"
    assert handoff.seq > seq
    row = api.get(conn, "tg:77")
    assert row is not None
    assert (row.status, row.decided_by, row.world_name) == ("approved", "policy:open", "tg-77-2")
    assert replies(conn, "tg:77") == []  # the agent answers, not onbod
    say(conn, "tg:77", "second message")
    wait_settled(conn)
    assert handoff_count(conn) == 1


def test_unknown_policy_is_refused_with_its_name(db: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "onbod.main", "--db", str(db), "--policy", "sometimes"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "policy" in proc.stderr
    assert "sometimes" in proc.stderr


def test_help_lists_every_flag_with_its_env_var() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "onbod.main", "--help"], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0
    for flag, env in [
        ("--policy", "SWITCHBOARD_ONBOARDING_POLICY"),
        ("--prompt-interval", "SWITCHBOARD_ONBOARDING_PROMPT_INTERVAL"),
        ("--reminder-interval", "SWITCHBOARD_ONBOARDING_REMINDER_INTERVAL"),
        ("--max-pending-per-hour", "SWITCHBOARD_ONBOARDING_MAX_PENDING_PER_HOUR"),
        ("--max-greetings-per-hour", "SWITCHBOARD_ONBOARDING_MAX_GREETINGS_PER_HOUR"),
        ("--db", "SWITCHBOARD_DB"),
    ]:
        assert flag in proc.stdout
        assert env in " ".join(proc.stdout.split())
