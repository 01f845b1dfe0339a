"""The tool socket reaches a confined agent: only the run's socket directory is bound into the
sandbox, and `switchboard-tool` works there unchanged."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import store
from gated_loop_support import group_dir, put, reply_texts, start_gated, stop_gated
from gated_loop_support import wait_for as _wait_for

AGENT = Path(__file__).resolve().parent.parent / "loop" / "agents" / "tools.py"


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
