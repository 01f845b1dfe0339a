"""What agent runs cost and what a folder may spend: a run's usage (tokens and US dollars, as its
agent reported them) read from an agent's result line and kept on its session_log row; a
folder's spend in the current UTC day and month; and the totals `switchboard usage` shows.

Usage is whatever the agent says: gated bounds it (non-negative, finite, capped) but cannot
check it. A run's cost counts in the period in which the run ended."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from store import validate
from store.clock import iso

# The most one run may report: beyond is a bug or a lie, and is capped, not stored as given.
MAX_TOKENS: Final = 10**12
MAX_RUN_COST_USD: Final = 1_000_000.0

Period = Literal["day", "month"]
PERIODS: Final[tuple[Period, ...]] = ("day", "month")


@dataclass(frozen=True, slots=True)
class RunUsage:
    """One run's usage (the sum over its result lines: a streaming agent reports per turn)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: RunUsage) -> RunUsage:
        return RunUsage(
            min(MAX_TOKENS, self.input_tokens + other.input_tokens),
            min(MAX_TOKENS, self.output_tokens + other.output_tokens),
            min(MAX_RUN_COST_USD, self.cost_usd + other.cost_usd),
        )


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return min(MAX_TOKENS, int(value))


def parse_usage(value: object) -> RunUsage | None:
    """A result line's `usage` object → RunUsage; None when it is absent or carries nothing
    usable. Each field is taken only when it is a finite non-negative number (else 0)."""
    if not isinstance(value, dict):
        return None
    tokens_in = _count(value.get("input_tokens"))
    tokens_out = _count(value.get("output_tokens"))
    cost = value.get("cost_usd")
    dollars: float | None = None
    if not isinstance(cost, bool) and isinstance(cost, int | float) and math.isfinite(cost):
        dollars = min(MAX_RUN_COST_USD, float(cost)) if cost >= 0 else None
    if tokens_in is None and tokens_out is None and dollars is None:
        return None
    return RunUsage(tokens_in or 0, tokens_out or 0, dollars or 0.0)


def period_start(period: Period, now: datetime) -> datetime:
    """The start of the UTC day or month `now` lies in."""
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.replace(day=1) if period == "month" else start


def period_label(period: Period, now: datetime) -> str:
    """'2026-12-03' for a day, '2026-12' for a month (what a notice names)."""
    return now.strftime("%Y-%m-%d" if period == "day" else "%Y-%m")


def spent_since(conn: sqlite3.Connection, folder: str, since: datetime) -> float:
    """US dollars the folder's runs that ended at or after `since` reported."""
    row = conn.execute(
        "SELECT COALESCE(SUM(cost_usd), 0) FROM session_log "
        "WHERE group_folder = ? AND cost_usd IS NOT NULL AND ended_at >= ?",
        (validate.folder(folder), iso(since)),
    ).fetchone()
    return float(row[0])


@dataclass(frozen=True, slots=True)
class UsageTotal:
    """One folder's runs since a time, and what those that reported usage reported."""

    folder: str
    runs: int
    reported: int  # runs with a usage
    input_tokens: int
    output_tokens: int
    cost_usd: float

    def as_json(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "runs": self.runs,
            "runs_with_usage": self.reported,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
        }


def usage_totals(
    conn: sqlite3.Connection, *, folder: str | None = None, since: datetime | None = None
) -> list[UsageTotal]:
    """Per folder (sorted), the ended runs since `since` (all when None), and their usage."""
    sql = (
        "SELECT group_folder, COUNT(*), COUNT(cost_usd), COALESCE(SUM(input_tokens), 0), "
        "COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cost_usd), 0) FROM session_log "
        "WHERE ended_at IS NOT NULL"
    )
    params: list[object] = []
    if folder is not None:
        sql += " AND group_folder = ?"
        params.append(validate.folder(folder))
    if since is not None:
        sql += " AND ended_at >= ?"
        params.append(iso(since))
    rows = conn.execute(sql + " GROUP BY group_folder ORDER BY group_folder", params).fetchall()
    return [
        UsageTotal(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), float(r[5])) for r in rows
    ]
