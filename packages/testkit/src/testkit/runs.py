"""Agent runs and their tool calls written as gated writes them, for tests of what shows them
(the CLI's `runs`, the dashboard's run pages)."""

from __future__ import annotations

import sqlite3
from typing import Any

import store
from gated.tools import audit


def start_run(
    conn: sqlite3.Connection, folder: str, topic: str, jid: str, session_id: str | None
) -> int:
    """Open a session_log row as gated does for a run (its work key: the chat, or the task
    topic); returns its id."""
    key = store.WorkKey.chat(jid) if not topic else store.WorkKey.task(folder, topic)
    run = store.open_run(
        conn, store.NewRun(key, folder, topic, jid, 1, session_id=session_id, sandbox="none")
    )
    assert run is not None, f"{key} has an open run already"
    return run


def record_call(
    conn: sqlite3.Connection,
    run: int,
    n: int,
    tool: str,
    args: dict[str, Any],
    *,
    result: Any = None,
    error: tuple[str, str] | None = None,
) -> None:
    """Call number `n` (1-9) of `run`, recorded by gated's own `audit.record`."""
    audit.record(
        conn,
        run_id=run,
        call_id=f"call-{n}",
        tool=tool,
        args=args,
        started_at=f"2026-11-23T09:00:0{n}.500Z",
        duration_ms=1.5 * n,
        result=result,
        error_code=error[0] if error else None,
        error=error[1] if error else None,
    )
