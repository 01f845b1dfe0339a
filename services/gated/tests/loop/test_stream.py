"""stdin=stream: a message that arrives while the chat's agent runs is written to the running
agent (no second run); the cursor moves past what the agent says it consumed, and a follow-up
it did not consume gets a run of its own."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import store
from gated_loop_support import AGENTS, agent_command, put, reply_texts, runs, wait_for


def stream_group(conn: sqlite3.Connection, jid: str, folder: str, **env: str) -> None:
    config = {"command": agent_command("stream.py"), "env": env}
    store.register_group(conn, jid, folder, agent_config=config)
    store.update_folder_settings(conn, folder, {"stdin": "stream"}, [])


def test_a_message_during_a_run_reaches_the_running_agent(conn: sqlite3.Connection) -> None:
    stream_group(conn, "web:stream-a", "stream-a", IDLE_S="3")
    put(conn, "web:stream-a", "first")
    wait_for(lambda: reply_texts(conn, "web:stream-a") == ["echo: first"], 15, "the first echo")
    second = put(conn, "web:stream-a", "second")
    wait_for(lambda: "echo: second" in reply_texts(conn, "web:stream-a"), 15, "the follow-up")
    wait_for(lambda: all(r["ended_at"] for r in runs(conn, "stream-a")), 15, "the run's end")
    assert [r["result"] for r in runs(conn, "stream-a")] == ["ok"]  # one run answered both
    assert reply_texts(conn, "web:stream-a") == ["echo: first", "echo: second"]
    assert int(store.get_state(conn, "agent_cursor:web:stream-a") or 0) == second


def test_a_follow_up_the_agent_did_not_consume_gets_its_own_run(conn: sqlite3.Connection) -> None:
    stream_group(conn, "web:stream-b", "stream-b", IDLE_S="3", NO_CONSUMED="1")
    put(conn, "web:stream-b", "one")
    wait_for(lambda: reply_texts(conn, "web:stream-b") == ["echo: one"], 15, "the first echo")
    put(conn, "web:stream-b", "two")
    wait_for(lambda: len(runs(conn, "stream-b")) == 2, 20, "a second run for the follow-up")
    wait_for(lambda: all(r["ended_at"] for r in runs(conn, "stream-b")), 20, "both runs' ends")
    # Written to the first run (which answered it) but not reported consumed: run again.
    assert reply_texts(conn, "web:stream-b").count("echo: two") == 2


def test_batch_agents_keep_batching(conn: sqlite3.Connection) -> None:
    store.register_group(
        conn, "web:batchy", "batchy", agent_config={"command": agent_command("record.py")}
    )
    put(conn, "web:batchy", "x")
    wait_for(lambda: reply_texts(conn, "web:batchy"), 15, "the batch agent's answer")
    assert store.folder_settings(conn, "batchy").stdin == "batch"


def test_claude_gets_follow_ups_as_stream_json_turns(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    claude = tmp_path / "claude"
    source = (AGENTS / "claude_stream_standin.py").read_text()
    claude.write_text(f"#!{sys.executable}\n{source}")
    claude.chmod(0o755)
    store.register_group(
        conn, "web:cstream", "cstream", agent_config={"command": "switchboard-agent-claude"}
    )
    store.update_folder_settings(
        conn,
        "cstream",
        {"stdin": "stream", "env.SWITCHBOARD_CLAUDE_BIN": str(claude), "env.FIRST_DELAY_S": "3"},
        [],
    )
    put(conn, "web:cstream", "first", sender_name="Ann")
    wait_for(lambda: runs(conn, "cstream"), 15, "the run's start")
    second = put(conn, "web:cstream", "second", sender_name="Ann")
    wait_for(lambda: all(r["ended_at"] for r in runs(conn, "cstream")), 20, "the run's end")
    assert reply_texts(conn, "web:cstream") == ["heard: Ann: first", "heard: Ann: second"]
    assert len(runs(conn, "cstream")) == 1
    assert int(store.get_state(conn, "agent_cursor:web:cstream") or 0) == second
