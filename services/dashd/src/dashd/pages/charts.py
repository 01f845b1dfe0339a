"""Charts (operators only): messages in and out per hour over the last 48 hours; agent runs per
day (how many, failed, median and longest) and how late timed fired tasks, over 30 days; and
what each group's runs cost over 30 days. Each chart is an SVG drawn here (dashd.charts) with
its numbers in a table beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from markupsafe import Markup
from starlette.responses import Response
from starlette.routing import Route
from store import activity

from dashd.chart_tallies import DAYS, HOURS, DayFigures
from dashd.charts import Series, bar_chart
from dashd.context import Ctx
from dashd.page import page

TOP_GROUPS: Final = 12  # groups drawn in the cost chart (the table lists them all)


def hours_until(now: datetime) -> list[str]:
    """The last HOURS UTC hours, oldest first, as stored text prefixes ('2026-12-03T08')."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    return [(start + timedelta(hours=h)).strftime("%Y-%m-%dT%H") for h in range(HOURS)]


def days_until(now: datetime) -> list[str]:
    start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS - 1)
    return [(start + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(DAYS)]


@dataclass(frozen=True, slots=True)
class DayRow:
    """One day of a table and a chart: how many (runs, firings), how many failed, median and
    largest seconds."""

    count: int
    failed: int
    median_s: float
    max_s: float


def day_rows(days: list[str], figures: dict[str, DayFigures]) -> list[tuple[str, DayRow | None]]:
    rows: list[tuple[str, DayRow | None]] = []
    for d in days:
        f = figures.get(d)
        rows.append((d, DayRow(f.count, f.failed, *activity.median_max(f.seconds)) if f else None))
    return rows


def seconds_chart(title: str, top: str, rows: Sequence[tuple[str, DayRow | None]]) -> Markup:
    """Per day, the median and the largest of some seconds (run durations, task lateness)."""
    return bar_chart(
        f"{title}: median and {top}",
        [d[5:] for d, _ in rows],
        [
            Series("median", "series-a", [r.median_s if r else 0 for _, r in rows]),
            Series(top, "series-b", [r.max_s if r else 0 for _, r in rows]),
        ],
        " s",
    )


@page(operator=True)
def charts_page(ctx: Ctx) -> Response:
    hours, days = hours_until(ctx.now), days_until(ctx.now)
    figures = ctx.state.charts.figures(ctx.read, hours, days)
    costs = figures.cost
    groups = sorted(costs, key=lambda f: (-costs[f], f))
    hour_rows = [(h, *figures.per_hour.get(h, (0, 0))) for h in hours]
    run_rows = day_rows(days, figures.runs)
    late_rows = day_rows(days, figures.lateness)
    charts = {
        "messages": bar_chart(
            f"Messages per hour, last {HOURS} hours (UTC)",
            [h[11:] + "h" for h in hours],
            [
                Series("received", "series-a", [r[1] for r in hour_rows]),
                Series("sent", "series-b", [r[2] for r in hour_rows]),
            ],
            "",
        ),
        "runs": bar_chart(
            f"Agent runs per day, last {DAYS} days (UTC)",
            [d[5:] for d in days],
            [
                Series("runs", "series-a", [r.count if r else 0 for _, r in run_rows]),
                Series("failed", "series-bad", [r.failed if r else 0 for _, r in run_rows]),
            ],
            "",
        ),
        "durations": seconds_chart("Agent run duration per day", "longest", run_rows),
        "lateness": seconds_chart("Task lateness per day", "worst", late_rows),
        "cost": bar_chart(
            f"Cost per group, last {DAYS} days (US$, as agents reported it)",
            groups[:TOP_GROUPS],
            [Series("cost", "series-a", [costs[g] for g in groups[:TOP_GROUPS]])],
            "",
        ),
    }
    return ctx.render(
        "charts.html",
        charts=charts,
        hour_rows=[r for r in hour_rows if r[1] or r[2]],
        run_rows=[(d, r) for d, r in run_rows if r],
        late_rows=[(d, r) for d, r in late_rows if r],
        costs=[(g, costs[g]) for g in groups],
        hours=HOURS,
        days=DAYS,
    )


ROUTES = [Route("/charts", charts_page, methods=["GET"])]
