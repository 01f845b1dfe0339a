"""Run usage (store.usage): an agent's `usage` read only where it is a finite non-negative
number and capped, summed over a streaming agent's result lines, kept on the run's row by
end_run, and counted per folder and period (a run counts when it ends)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import store
from store import NewRun, WorkKey
from store.usage import (
    MAX_RUN_COST_USD,
    MAX_TOKENS,
    RunUsage,
    parse_usage,
    period_label,
    period_start,
    spent_since,
    usage_totals,
)


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ({"input_tokens": 10, "output_tokens": 2, "cost_usd": 0.5}, RunUsage(10, 2, 0.5)),
        ({"cost_usd": 3}, RunUsage(0, 0, 3.0)),
        ({"input_tokens": 7}, RunUsage(7, 0, 0.0)),
        # hostile or broken: each bad field is left out, never trusted
        ({"input_tokens": -5, "output_tokens": True, "cost_usd": -1.0}, None),
        ({"input_tokens": "9", "cost_usd": "1"}, None),
        ({"cost_usd": float("nan"), "input_tokens": float("inf")}, None),
        ({"cost_usd": 1e300, "input_tokens": 10**30}, RunUsage(MAX_TOKENS, 0, MAX_RUN_COST_USD)),
        ("$1", None),
        (None, None),
        ({}, None),
    ],
)
def test_an_agents_usage_is_read_where_it_is_a_sane_number(given: object, read: object) -> None:
    assert parse_usage(given) == read


def test_a_streaming_agents_turns_add_up_and_stay_capped() -> None:
    assert RunUsage(1, 2, 0.25) + RunUsage(3, 4, 0.5) == RunUsage(4, 6, 0.75)
    big = RunUsage(MAX_TOKENS, MAX_TOKENS, MAX_RUN_COST_USD)
    assert big + big == big


def test_periods_are_utc_days_and_months() -> None:
    now = datetime(2026, 12, 3, 17, 45, 1, tzinfo=UTC)
    assert period_start("day", now) == datetime(2026, 12, 3, tzinfo=UTC)
    assert period_start("month", now) == datetime(2026, 12, 1, tzinfo=UTC)
    assert (period_label("day", now), period_label("month", now)) == ("2026-12-03", "2026-12")


def finish(db: sqlite3.Connection, folder: str, usage: RunUsage | None, topic: str = "") -> None:
    run_id = store.open_run(
        db, NewRun(WorkKey.task(folder, topic), folder, topic, f"web:{folder}", 1, ())
    )
    assert run_id is not None
    assert store.end_run(db, run_id, "ok", usage=usage)


def test_usage_is_kept_on_the_run_and_counted_per_folder(db: sqlite3.Connection) -> None:
    finish(db, "alpha", RunUsage(100, 10, 0.25), "a")
    finish(db, "alpha", RunUsage(50, 5, 0.5), "b")
    finish(db, "alpha", None, "c")  # an agent that reports nothing: a run, no usage
    finish(db, "beta", RunUsage(1, 1, 2.0))
    row = db.execute(
        "SELECT input_tokens, output_tokens, cost_usd FROM session_log ORDER BY id LIMIT 1"
    ).fetchone()
    assert tuple(row) == (100, 10, 0.25)
    alpha, beta = usage_totals(db)
    assert alpha.as_json() == {
        "folder": "alpha",
        "runs": 3,
        "runs_with_usage": 2,
        "input_tokens": 150,
        "output_tokens": 15,
        "cost_usd": 0.75,
    }
    assert (beta.folder, beta.cost_usd) == ("beta", 2.0)
    assert [t.folder for t in usage_totals(db, folder="beta")] == ["beta"]
    now = datetime.now(UTC)
    assert spent_since(db, "alpha", now - timedelta(minutes=1)) == 0.75
    assert spent_since(db, "alpha", now + timedelta(minutes=1)) == 0.0  # ended before it
    assert usage_totals(db, since=now + timedelta(minutes=1)) == []


def test_the_spend_query_uses_its_index(db: sqlite3.Connection) -> None:
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT COALESCE(SUM(cost_usd), 0) FROM session_log "
        "WHERE group_folder = ? AND cost_usd IS NOT NULL AND ended_at >= ?",
        ("alpha", "2026-12-01T00:00:00.000Z"),
    ).fetchall()
    assert "session_log_spend" in " ".join(str(r[-1]) for r in plan)
