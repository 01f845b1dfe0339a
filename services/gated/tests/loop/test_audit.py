"""The audit log from gated: /approve and /reject in an operator chat are logged once as the
sender (origin chat), an operator group's tools as `agent:<folder>` (origin tool); refused
commands and calls, an agent's own reminder and a retried call id log nothing more."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import store
from gated.agents.tool_client import ToolClient
from gated.main import SCHEMAS
from gated.tools import ToolService
from gated.tools.context import RunIdentity
from gated_loop_support import ask, put, reply_texts, tool_group, wait_for
from store import audit
from testkit.audit import entries_after
from testkit.onboarding import pending_request as pending


def logged(conn: sqlite3.Connection, **filters: str) -> list[audit.AuditEntry]:
    """Matching entries, oldest first."""
    return entries_after(conn, 0, audit.AuditQuery(**filters))


def test_operator_chat_commands_are_logged_once_as_the_sender(conn: sqlite3.Connection) -> None:
    store.register_group(conn, "web:ops-log", "ops-log", is_operator=True)
    store.register_group(conn, "web:plain-log", "plain-log")
    pending(conn, "web:asker-a", "world-a")
    pending(conn, "web:asker-b", "world-b")
    put(conn, "web:plain-log", "/approve web:asker-a", sender="mallory")
    put(conn, "web:ops-log", "/approve web:asker-a", sender="alice")
    put(conn, "web:ops-log", "/reject web:asker-b no room left", sender="alice")
    put(conn, "web:ops-log", "/approve web:asker-a", sender="alice")  # already decided
    wait_for(lambda: len(reply_texts(conn, "web:ops-log")) == 3, 20, "the operator's answers")
    wait_for(lambda: reply_texts(conn, "web:plain-log"), 20, "the refusal")
    assert reply_texts(conn, "web:plain-log") == ["/approve works only in an operator group"]
    approved, rejected = logged(conn, origin="chat")
    assert (approved.action, approved.target) == ("onboarding.approve", "web:asker-a")
    assert (rejected.action, rejected.target) == ("onboarding.reject", "web:asker-b")
    for entry in (approved, rejected):
        assert (entry.actor, entry.origin, entry.remote) == ("alice", "chat", "web:ops-log")
        assert entry.before["status"] == "pending"
    assert approved.after["status"] == "approved"
    assert approved.after["decided_by"] == "alice"
    assert (rejected.after["status"], rejected.after["reason"]) == ("rejected", "no room left")
    assert logged(conn, actor="mallory") == []


def test_operator_tools_are_logged_as_the_agent_and_reminders_are_not(
    conn: sqlite3.Connection,
) -> None:
    tool_group(conn, "web:ops-tools", "ops-tools")
    store.update_folder_settings(conn, "ops-tools", {"grants.operator": "true"}, [])
    pending(conn, "web:asker-c", "world-c")
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    done = ask(
        conn,
        "web:ops-tools",
        ("register_group", {"jid": "web:made-by-agent", "folder": "made-by-agent"}),
        ("add_route", {"jid": "web:made-by-agent", "type": "default", "target": "made-by-agent"}),
        ("approve", {"jid": "web:asker-c"}),
        ("approve", {"jid": "web:asker-c"}),  # refused: already approved
        ("register_group", {"jid": "not a jid", "folder": "x"}),  # refused
        ("schedule_task", {"prompt": "remind me", "at": at}),  # the group's own reminder
        ("list_groups", {}),
    )
    assert [d["rc"] for d in done] == [0, 0, 0, 1, 1, 0, 0], done
    entries = logged(conn, actor="agent:ops-tools")
    assert [(e.action, e.target) for e in entries] == [
        ("group.add", "web:made-by-agent"),
        ("route.add", "web:made-by-agent"),
        ("onboarding.approve", "web:asker-c"),
    ]
    run_id = conn.execute(
        "SELECT MAX(id) FROM session_log WHERE group_folder = 'ops-tools'"
    ).fetchone()[0]
    for entry in entries:
        assert (entry.origin, entry.remote) == ("tool", f"web:ops-tools run {run_id}")
    assert entries[0].before is None
    assert entries[0].after["folder"] == "made-by-agent"
    assert entries[1].after["type"] == "default"
    assert (entries[2].before["status"], entries[2].after["status"]) == ("pending", "approved")
    assert entries[2].after["decided_by"] == "agent:ops-tools"


def test_a_retried_operator_call_is_logged_once(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    conn = store.open(db, SCHEMAS)
    store.register_group(conn, "web:ops-retry", "ops-retry")
    store.update_folder_settings(conn, "ops-retry", {"grants.operator": "true"}, [])
    service = ToolService(str(db), tmp_path)
    run = RunIdentity(3, "chat:web:ops-retry", "ops-retry", "web:ops-retry", "", 1)
    tool_run = service.open_run(run, tmp_path)
    try:
        client = ToolClient(str(tool_run.socket_path), tool_run.token)
        args = {"jid": "web:once", "folder": "once"}
        first = client.call("register_group", args, call_id="c-1")
        assert first["ok"], first
        assert client.call("register_group", args, call_id="c-1") == first
        client.close()
        assert [(e.action, e.target) for e in logged(conn)] == [("group.add", "web:once")]
    finally:
        service.close_run(tool_run)
        conn.close()
