"""gated's `tool_calls` table: every call recorded with its answer, so a retried call id is
answered from the first answer and a re-run of a batch finds the effects it already had."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Final

import store

MAX_ARGS_TEXT: Final = 2000

INSERT_CALL_SQL: Final = """
INSERT INTO tool_calls (run_id, call_id, tool, args, status, error_code, error, result,
                        effect_key, replay_of, started_at, duration_ms)
VALUES (:run_id, :call_id, :tool, :args, :status, :error_code, :error, :result,
        :effect_key, :replay_of, :started_at, :duration_ms)
"""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One recorded call."""

    id: int
    run_id: int
    call_id: str
    tool: str
    args: str
    status: str  # 'ok' | 'error'
    error_code: str | None
    error: str | None
    result: str | None
    effect_key: str | None
    replay_of: int | None
    started_at: str
    duration_ms: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ToolCall:
        return cls(**{name: row[name] for name in cls.__slots__})

    def result_value(self) -> Any:
        return json.loads(self.result) if self.result is not None else None


def args_text(args: dict[str, Any]) -> str:
    text = json.dumps(args, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= MAX_ARGS_TEXT else text[: MAX_ARGS_TEXT - 1] + "…"


def record(
    conn: sqlite3.Connection,
    *,
    run_id: int,
    call_id: str,
    tool: str,
    args: dict[str, Any],
    started_at: str,
    duration_ms: float,
    result: Any = None,
    error_code: str | None = None,
    error: str | None = None,
    effect_key: str | None = None,
    replay_of: int | None = None,
) -> None:
    """Record one call (inside the caller's transaction when it has one)."""
    with store.tx(conn):
        conn.execute(
            INSERT_CALL_SQL,
            {
                "run_id": run_id,
                "call_id": call_id,
                "tool": tool,
                "args": args_text(args),
                "status": "ok" if error_code is None else "error",
                "error_code": error_code,
                "error": error,
                "result": json.dumps(result) if error_code is None else None,
                "effect_key": effect_key,
                "replay_of": replay_of,
                "started_at": started_at,
                "duration_ms": round(duration_ms, 3),
            },
        )


def find_call(conn: sqlite3.Connection, run_id: int, call_id: str) -> ToolCall | None:
    row = conn.execute(
        "SELECT * FROM tool_calls WHERE run_id = ? AND call_id = ?", (run_id, call_id)
    ).fetchone()
    return ToolCall.from_row(row) if row else None


def by_effect(conn: sqlite3.Connection, effect_key: str) -> ToolCall | None:
    row = conn.execute("SELECT * FROM tool_calls WHERE effect_key = ?", (effect_key,)).fetchone()
    return ToolCall.from_row(row) if row else None


def effects_of_run(conn: sqlite3.Connection, run_id: int, tool: str) -> int:
    """How many calls of `tool` in this run had (or repeated) an effect."""
    row = conn.execute(
        "SELECT COUNT(*) FROM tool_calls WHERE run_id = ? AND tool = ? AND status = 'ok' "
        "AND (effect_key IS NOT NULL OR replay_of IS NOT NULL)",
        (run_id, tool),
    ).fetchone()
    return int(row[0])


def has_table(conn: sqlite3.Connection) -> bool:
    """False when gated's schema was never applied to this database (a read-only connection,
    dashd's pages, may look before gated ever started)."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tool_calls'"
    ).fetchone()
    return row is not None


def calls_of_run(conn: sqlite3.Connection, run_id: int) -> list[ToolCall]:
    """A run's calls in order (dashboard, `switchboard runs show`); none without the table."""
    if not has_table(conn):
        return []
    rows = conn.execute("SELECT * FROM tool_calls WHERE run_id = ? ORDER BY id", (run_id,))
    return [ToolCall.from_row(r) for r in rows]


# Parameters: the run ids, one `?` each (served by the tool_calls_call index's run_id prefix).
CALL_COUNTS_SQL: Final = (
    "SELECT run_id, COUNT(*) FROM tool_calls WHERE run_id IN ({ids}) GROUP BY run_id"
)


def call_counts(conn: sqlite3.Connection, run_ids: list[int]) -> dict[int, int]:
    """How many calls each of these runs made (runs without calls are left out)."""
    if not run_ids or not has_table(conn):
        return {}
    sql = CALL_COUNTS_SQL.format(ids=",".join("?" * len(run_ids)))
    return {int(r[0]): int(r[1]) for r in conn.execute(sql, run_ids)}
