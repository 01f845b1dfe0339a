"""The tool socket reaches a confined agent: only the run's socket directory is bound into the
sandbox, and `switchboard-tool` works there unchanged."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import store
from gated.main import SCHEMAS
from gated_loop_support import group_dir, put, reply_texts, start_gated, stop_gated
from gated_loop_support import wait_for as _wait_for

HERE = Path(__file__).resolve().parent
AGENT = HERE.parent / "loop" / "agents" / "tools.py"


def test_a_confined_agent_calls_its_tools(bwrap: str, data_dir: Path) -> None:
    db = data_dir / "messages.db"
    store.open(db).close()
    gated = start_gated(db, env={"SWITCHBOARD_SANDBOX": "bwrap"})
    conn = gated.conn()
    try:
        folder = group_dir(db, "boxed")
        shutil.copy(AGENT, folder / "agent.py")
        store.register_group(
            conn, "web:boxed", "boxed", agent_config={"command": f"{sys.executable} agent.py"}
        )
        calls = [["chat_info", {}], ["send_message", {"text": "from the sandbox"}]]
        put(conn, "web:boxed", json.dumps({"calls": calls}))
        _wait_for(lambda: len(reply_texts(conn, "web:boxed")) == 2, 30, "the confined agent")
        sent, report = reply_texts(conn, "web:boxed")
        assert sent == "from the sandbox"
        info, send = json.loads(report)
        assert (info["rc"], send["rc"]) == (0, 0), report
        assert info["out"]["folder"] == "boxed"
        run = conn.execute("SELECT id FROM session_log WHERE group_folder = 'boxed'").fetchone()
        tools = conn.execute("SELECT tool FROM tool_calls WHERE run_id = ? ORDER BY id", (run[0],))
        assert [r[0] for r in tools] == ["chat_info", "send_message"]
        assert "confined=True" in gated.log_text()
    finally:
        conn.close()
        assert stop_gated(gated) == 0, gated.log_text()


@pytest.mark.parametrize("client", ["mcp", "cli"])
def test_a_confined_agent_calls_every_tool(bwrap: str, data_dir: Path, client: str) -> None:
    """Every tool, from inside the sandbox, through switchboard-mcp (the MCP client SDK) and
    through switchboard-tool: each one is carried out for the run's group."""
    db = data_dir / "messages.db"
    store.open(db, SCHEMAS).close()
    gated = start_gated(db, env={"SWITCHBOARD_SANDBOX": "bwrap"})
    conn = gated.conn()
    try:
        folder = group_dir(db, "ops")
        shutil.copy(HERE / "every_tool.py", folder / "agent.py")
        config = {"command": f"{sys.executable} agent.py", "env": {"CLIENT": client}}
        store.register_group(conn, "web:ops", "ops", agent_config=config)
        store.register_group(conn, "web:helper", "helper")
        store.update_folder_settings(
            conn, "ops", {"grants.operator": "true", "grants.delegate_to": "helper"}, []
        )
        with store.tx(conn):
            for jid, world in (
                (f"web:stranger-{client}", f"world-{client}"),
                (f"web:pest-{client}", None),
            ):
                conn.execute(
                    "INSERT INTO onboarding (jid, status, world_name, created_at) "
                    "VALUES (?, 'pending', ?, '2026-12-01T00:00:00.000Z')",
                    (jid, world),
                )
        put(conn, "web:ops", "go")
        _wait_for(
            lambda: any(t.startswith("{") for t in reply_texts(conn, "web:ops")),
            60,
            "the agent's report",
        )
        report = json.loads(next(t for t in reply_texts(conn, "web:ops") if t.startswith("{")))
        assert set(report["calls"].values()) == {"ok"}, report
        assert len(report["calls"]) == 16
        if client == "mcp":
            assert set(report["calls"]) <= set(report["listed"])
        assert f"hello from {client}" in reply_texts(conn, "web:ops")
        assert store.get_group(conn, f"web:new-{client}") is not None
        assert store.get_group(conn, f"web:stranger-{client}") is not None
        _wait_for(
            lambda: f"echo: help {client}" in reply_texts(conn, "web:ops"), 30, "the delegate"
        )
        rows = conn.execute("SELECT status FROM tool_calls").fetchall()
        assert [r[0] for r in rows] == ["ok"] * 16
    finally:
        conn.close()
        assert stop_gated(gated) == 0, gated.log_text()
