"""The agent's tools, end to end: a real gated runs a test agent that calls `switchboard-tool`;
each call acts as the run's group (never as what the agent claims), is refused outside the
group's grants with nothing written, and is recorded in `tool_calls`."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import store
from gated.agents.tool_client import ToolClient
from gated.main import SCHEMAS
from gated.tools import ToolService
from gated.tools.context import RunIdentity
from gated_loop_support import (
    AGENTS,
    Gated,
    ask,
    group_dir,
    put,
    reply_texts,
    reports,
    start_gated,
    stop_gated,
    tool_group,
    wait_for,
)
from store import blobs
from testkit.onboarding import pending_request
from timed import api


def calls(conn: sqlite3.Connection, folder: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT t.* FROM tool_calls t JOIN session_log s ON s.id = t.run_id "
        "WHERE s.group_folder = ? ORDER BY t.id",
        (folder,),
    ).fetchall()


def test_tools_act_as_the_runs_group_and_are_audited(conn: sqlite3.Connection) -> None:
    tool_group(conn, "web:tools-a", "tools-a")
    put(conn, "web:tools-a", "an earlier line")
    wait_for(lambda: store.get_state(conn, "agent_cursor:web:tools-a") is not None, 10, "cursor")
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    done = ask(
        conn,
        "web:tools-a",
        ("chat_info", {}),
        ("send_message", {"text": "sent by a tool"}),
        ("history", {"limit": 5}),
        ("schedule_task", {"prompt": "remind me", "at": at}),
        ("list_tasks", {}),
    )
    assert [d["rc"] for d in done] == [0, 0, 0, 0, 0], done
    info, sent, hist, task, listed = (d["out"] for d in done)
    assert (info["chat_jid"], info["folder"], info["channel"]) == ("web:tools-a", "tools-a", "web")
    assert sent["chat_jid"] == "web:tools-a"
    assert "sent by a tool" in reply_texts(conn, "web:tools-a")
    row = conn.execute("SELECT source, group_folder FROM messages WHERE seq = ?", (sent["seq"],))
    assert tuple(row.fetchone()) == ("tool", "tools-a")
    assert "an earlier line" in [m["content"] for m in hist["messages"]]
    stored = api.get_task(conn, task["id"])
    assert stored is not None
    assert (stored.group_folder, stored.chat_jid, stored.prompt) == (
        "tools-a",
        "web:tools-a",
        "remind me",
    )
    assert [t["id"] for t in listed["tasks"]] == [task["id"]]

    done = ask(
        conn,
        "web:tools-a",
        ("pause_task", {"id": task["id"]}),
        ("resume_task", {"id": task["id"]}),
        ("cancel_task", {"id": task["id"]}),
    )
    assert [d["out"].get("status", d["out"].get("cancelled")) for d in done] == [
        "paused",
        "active",
        True,
    ]
    assert api.get_task(conn, task["id"]) is None
    audited = [(r["tool"], r["status"]) for r in calls(conn, "tools-a")]
    assert audited == [
        ("chat_info", "ok"),
        ("send_message", "ok"),
        ("history", "ok"),
        ("schedule_task", "ok"),
        ("list_tasks", "ok"),
        ("pause_task", "ok"),
        ("resume_task", "ok"),
        ("cancel_task", "ok"),
    ]
    assert all(r["duration_ms"] >= 0 for r in calls(conn, "tools-a"))


def test_outside_its_grants_a_group_gets_a_clear_error_and_nothing_is_written(
    conn: sqlite3.Connection,
) -> None:
    tool_group(conn, "web:tools-b", "tools-b")
    store.register_group(conn, "web:victim", "victim")
    put(conn, "web:victim", "the victim's private line")
    theirs = api.add_task(conn, chat_jid="web:victim", prompt="theirs", every_s=3600)
    wait_for(lambda: reply_texts(conn, "web:victim"), 10, "the victim's own echo")
    outbound_before = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    done = ask(
        conn,
        "web:tools-b",
        ("send_message", {"text": "spam", "chat_jid": "web:victim"}),
        ("history", {"chat_jid": "web:victim"}),
        ("cancel_task", {"id": theirs.id}),
        ("pause_task", {"id": 999_999}),
        ("search", {"query": "private line"}),
        ("no_such_tool", {}),
        ("send_message", {"text": ""}),
        ("send_message", {"text": "x", "folder": "victim"}),
        ("schedule_task", {"prompt": "p", "cron": "61 * * * *"}),
        ("schedule_task", {"prompt": "p", "at": "2030-01-01T09:00:00"}),
        ("schedule_task", {"prompt": "p", "cron": "* * * * *", "every_s": 60}),
    )
    errors = [(d["rc"], d["out"]["code"], d["out"]["argument"]) for d in done[:4]]
    assert errors == [
        (1, "refused", "chat_jid"),
        (1, "refused", "chat_jid"),
        (1, "refused", "id"),
        (1, "refused", "id"),
    ]
    # Another group's task and a missing one look the same.
    assert done[2]["out"]["message"] == f"no task {theirs.id} in this group"
    # Search finds the request itself (it quotes the text), never the victim's line.
    found = done[4]["out"]["messages"]
    assert found
    assert {m["chat_jid"] for m in found} == {"web:tools-b"}
    assert (done[5]["rc"], done[5]["out"]["code"]) == (1, "unknown_tool")
    bad = [(d["out"]["code"], d["out"]["argument"]) for d in done[6:]]
    assert bad == [
        ("invalid_argument", "text"),
        ("invalid_argument", "folder"),
        ("invalid_argument", "cron"),
        ("invalid_argument", "at"),
        ("invalid_argument", "cron"),
    ]
    # Nothing was written: no message to the victim, its task is there, no task was made.
    assert "spam" not in reply_texts(conn, "web:victim")
    assert api.get_task(conn, theirs.id) is not None
    assert [t.group_folder for t in api.list_tasks(conn)].count("tools-b") == 0
    outbound_after = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    assert outbound_after == outbound_before + 1  # the agent's own report only
    statuses = [r["status"] for r in calls(conn, "tools-b")]
    assert statuses == ["error"] * 4 + ["ok"] + ["error"] * 6

    # Granted, the same call goes through.
    store.update_folder_settings(conn, "tools-b", {"grants.send_to": "victim"}, [])
    done = ask(conn, "web:tools-b", ("send_message", {"text": "hello", "chat_jid": "web:victim"}))
    assert done[0]["rc"] == 0, done
    wait_for(lambda: "hello" in reply_texts(conn, "web:victim"), 10, "the granted message")


def test_a_reminder_set_just_before_gated_is_killed_is_set_once(tmp_path: Path) -> None:
    """schedule_task, then kill -9 while the agent still runs: the restarted gated runs the
    batch again, the agent calls schedule_task again, and is answered with the first task."""
    db = tmp_path / "messages.db"
    conn = store.open(db)
    tool_group(conn, "web:remind", "remind")
    gated = start_gated(db)
    try:
        at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        request = {"calls": [["schedule_task", {"prompt": "stand up", "at": at}]], "sleep_once": 60}
        put(conn, "web:remind", json.dumps(request))
        wait_for(lambda: len(calls(conn, "remind")) == 1, 30, "the first schedule_task call")
        gated.proc.kill()
        gated.proc.wait()
    finally:
        if gated.proc.poll() is None:
            gated.proc.kill()
    again = start_gated(db)
    try:
        wait_for(lambda: reports(conn, "web:remind"), 30, "the re-run's report")
        report = reports(conn, "web:remind")[0]
        assert report[0]["rc"] == 0, report
        tasks = [t for t in api.list_tasks(conn) if t.group_folder == "remind"]
        assert [t.id for t in tasks] == [report[0]["out"]["id"]]
        first, second = calls(conn, "remind")
        assert (first["effect_key"] is not None, first["replay_of"]) == (True, None)
        assert (second["effect_key"], second["replay_of"]) == (None, first["id"])
        assert first["run_id"] != second["run_id"]
    finally:
        conn.close()
        assert stop_gated(again) == 0, again.log_text()


def test_a_retried_call_id_is_answered_from_its_first_answer(tmp_path: Path) -> None:
    """The same call id twice on the socket (an MCP client's retry): one message."""
    db = tmp_path / "messages.db"
    conn = store.open(db, SCHEMAS)
    store.register_group(conn, "web:retry", "retry")
    service = ToolService(str(db), tmp_path)
    run = RunIdentity(7, "chat:web:retry", "retry", "web:retry", "", 1)
    tool_run = service.open_run(run, tmp_path)
    try:
        client = ToolClient(str(tool_run.socket_path), tool_run.token)
        first = client.call("send_message", {"text": "once"}, call_id="c-1")
        second = client.call("send_message", {"text": "once"}, call_id="c-1")
        assert first == second
        assert first["ok"], first
        assert reply_texts(conn, "web:retry") == ["once"]
        client.close()
    finally:
        service.close_run(tool_run)
        conn.close()


def test_bad_requests_wrong_tokens_and_a_closed_run_get_clear_errors(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    conn = store.open(db, SCHEMAS)
    store.register_group(conn, "web:bad", "bad")
    service = ToolService(str(db), tmp_path)
    tool_run = service.open_run(RunIdentity(9, "chat:web:bad", "bad", "web:bad", "", 1), tmp_path)
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(str(tool_run.socket_path))
    lines = raw.makefile("rwb")

    def send(data: bytes) -> dict[str, Any]:
        lines.write(data + b"\n")
        lines.flush()
        answer: dict[str, Any] = json.loads(lines.readline())
        return answer

    try:
        assert send(b"{not json")["error"]["code"] == "bad_request"
        assert send(b"[1, 2]")["error"]["code"] == "bad_request"
        no_token = send(json.dumps({"id": "a", "tool": "chat_info"}).encode())
        assert (no_token["id"], no_token["error"]["argument"]) == ("a", "token")
        bad_id = send(json.dumps({"token": "t", "id": "a b", "tool": "chat_info"}).encode())
        assert bad_id["error"]["argument"] == "id"
        wrong = {"token": "not-the-token", "id": "b", "tool": "send_message", "args": {"text": "x"}}
        assert send(json.dumps(wrong).encode())["error"]["code"] == "unauthorized"
    finally:
        raw.close()
    # An oversized request is answered, then that connection is closed.
    big = socket.socket(socket.AF_UNIX)
    big.connect(str(tool_run.socket_path))
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        big.sendall(b"x" * (2 * 1024 * 1024))
    answer = json.loads(big.makefile("rb").readline())
    assert "at most" in answer["error"]["message"]
    big.close()
    client = ToolClient(str(tool_run.socket_path), tool_run.token)
    assert client.call("chat_info", {})["ok"]
    service.close_run(tool_run)
    # The token died with the run: its socket is gone, and an open connection is refused.
    assert not tool_run.socket_path.exists()
    late = client.call("send_message", {"text": "too late"})
    assert late["error"]["code"] == "unauthorized"
    client.close()
    assert reply_texts(conn, "web:bad") == []
    assert conn.execute("SELECT COUNT(*) FROM tool_calls").fetchone()[0] == 1
    conn.close()


def test_claude_gets_the_tools_over_mcp(conn: sqlite3.Connection, tmp_path: Path) -> None:
    """The real switchboard-agent-claude hands Claude `--mcp-config` for switchboard-mcp; the
    stand-in `claude` connects with the mcp client SDK, lists the tools and calls them."""
    claude = tmp_path / "claude"
    claude.write_text(f"#!{sys.executable}\n" + (AGENTS / "claude_mcp_standin.py").read_text())
    claude.chmod(0o755)
    store.register_group(
        conn, "web:claude-mcp", "claude-mcp", agent_config={"command": "switchboard-agent-claude"}
    )
    store.update_folder_settings(
        conn, "claude-mcp", {"env.SWITCHBOARD_CLAUDE_BIN": str(claude)}, []
    )
    put(conn, "web:claude-mcp", "hello")
    wait_for(lambda: len(reply_texts(conn, "web:claude-mcp")) == 2, 30, "the MCP stand-in")
    sent, report = reply_texts(conn, "web:claude-mcp")
    assert sent.startswith("via MCP: ")
    assert "hello" in sent
    seen = json.loads(report)
    assert seen["allowed"] == "mcp__switchboard"
    assert {"send_message", "schedule_task", "history", "chat_info"} <= set(seen["tools"])
    assert seen["sent"]["chat_jid"] == "web:claude-mcp"
    assert seen["refused_is_error"] is True
    assert seen["refused"]["code"] == "refused"
    assert [r["tool"] for r in calls(conn, "claude-mcp")] == ["send_message", "history"]


def test_operator_tools_need_the_grant_and_act_through_the_owners(
    conn: sqlite3.Connection,
) -> None:
    tool_group(conn, "web:plain", "plain")
    tool_group(conn, "web:ops-agent", "ops-agent")
    store.update_folder_settings(conn, "ops-agent", {"grants.operator": "true"}, [])
    pending_request(conn, "web:stranger", "stranger-world")
    refused = ask(
        conn,
        "web:plain",
        ("list_groups", {}),
        ("register_group", {"jid": "web:new", "folder": "new"}),
        ("approve", {"jid": "web:stranger"}),
        ("delegate", {"folder": "ops-agent", "prompt": "hi"}),
    )
    assert [(d["rc"], d["out"]["code"]) for d in refused] == [(1, "refused")] * 4
    assert store.get_group(conn, "web:new") is None
    assert store.get_group(conn, "web:stranger") is None

    done = ask(
        conn,
        "web:ops-agent",
        ("register_group", {"jid": "web:new", "folder": "new"}),
        ("add_route", {"jid": "web:new", "type": "default", "target": "new"}),
        ("approve", {"jid": "web:stranger"}),
        ("list_groups", {}),
        ("register_group", {"jid": "not a jid", "folder": "x"}),
    )
    assert [d["rc"] for d in done] == [0, 0, 0, 0, 1], done
    group = store.get_group(conn, "web:new")
    assert group is not None
    assert group.folder == "new"
    assert [r.target for r in store.routes_for(conn, "web:new")] == ["new"]
    stranger = store.get_group(conn, "web:stranger")
    assert stranger is not None
    assert stranger.folder == "stranger-world"
    assert {"web:new", "web:stranger"} <= {g["jid"] for g in done[3]["out"]["groups"]}
    assert done[4]["out"]["code"] == "invalid_argument"


def test_delegate_asks_a_granted_group_and_its_answer_comes_to_this_chat(
    conn: sqlite3.Connection,
) -> None:
    tool_group(conn, "web:boss", "boss")
    store.register_group(conn, "web:helper", "helper")  # the echo agent
    store.update_folder_settings(conn, "boss", {"grants.delegate_to": "helper"}, [])
    done = ask(conn, "web:boss", ("delegate", {"folder": "helper", "prompt": "summarise"}))
    assert done[0]["rc"] == 0, done
    wait_for(lambda: "echo: summarise" in reply_texts(conn, "web:boss"), 30, "the helper's answer")
    answer = conn.execute(
        "SELECT group_folder FROM messages WHERE chat_jid = 'web:boss' AND content = ?",
        ("echo: summarise",),
    ).fetchone()
    assert answer[0] == "helper"
    assert reply_texts(conn, "web:helper") == []


def test_send_file_sends_a_folder_file_and_nothing_from_outside(
    gated: Gated, conn: sqlite3.Connection
) -> None:
    tool_group(conn, "web:files", "files")
    folder = group_dir(gated.db, "files")
    other = group_dir(gated.db, "files-victim")
    (other / "secret.txt").write_text("the victim's secret")
    (folder / "report.txt").write_text("quarterly numbers")
    (folder / "to-etc").symlink_to("/etc/passwd")
    (folder / "to-other").symlink_to(other)
    os.mkfifo(folder / "pipe")
    with (folder / "huge.bin").open("wb") as f:
        f.truncate(26 * 1024 * 1024)
    done = ask(
        conn,
        "web:files",
        ("send_file", {"path": "report.txt", "caption": "the report"}),
        ("send_file", {"path": "to-etc"}),
        ("send_file", {"path": "to-other/secret.txt"}),
        ("send_file", {"path": "../files-victim/secret.txt"}),
        ("send_file", {"path": str(other / "secret.txt")}),
        ("send_file", {"path": "pipe"}),
        ("send_file", {"path": "huge.bin"}),
        ("send_file", {"path": "missing.txt"}),
    )
    assert done[0]["rc"] == 0, done
    sent = done[0]["out"]
    assert sent["file"]["name"] == "report.txt"
    assert sent["file"]["type"] == "text/plain"
    stored = store.get_message(conn, sent["seq"])
    assert stored is not None
    assert stored.content == "the report"
    assert blobs.blob_path(conn, sent["file"]["file"]).read_text() == "quarterly numbers"
    refused = [(d["rc"], d["out"]["code"], d["out"]["argument"]) for d in done[1:]]
    assert refused == [
        (1, "invalid_argument", "path"),  # a final symlink is not followed
        (1, "refused", "path"),
        (1, "refused", "path"),
        (1, "refused", "path"),
        (1, "invalid_argument", "path"),  # not a regular file (and never blocks)
        (1, "invalid_argument", "path"),  # over 25 MiB
        (1, "invalid_argument", "path"),
    ]
    assert "over 25 MiB" in done[6]["out"]["message"]
    texts = "\n".join(r[0] for r in conn.execute("SELECT content FROM messages"))
    assert "the victim's secret" not in texts
    files = [p for p in blobs.files_dir(conn).rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in files] == [b"quarterly numbers"]
