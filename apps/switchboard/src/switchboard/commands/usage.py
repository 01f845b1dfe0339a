"""`usage`: what agent runs cost, per group: runs, tokens and US dollars as the agents reported
them (store.usage), and each group's spend in the current UTC day and month against its
budgets (`group config F --set budget_usd_day=5`)."""

from __future__ import annotations

from typing import Annotated, Any

import store
import typer
from store.group_settings import all_folder_settings
from store.usage import PERIODS, UsageTotal, period_start, spent_since, usage_totals

from switchboard.options import DbOption, JsonOption, opened, print_json, print_table


def register(app: typer.Typer) -> None:
    app.command("usage")(usage)


def usage(
    group: Annotated[str | None, typer.Option(help="Only this group folder.")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only runs that ended from this UTC date (2026-12-01) or time on."),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """What agent runs cost per group, and each group's spend today and this month (UTC)
    against its budgets. Usage is what the agents reported; agents that report none (like the
    echo agent) count as runs without usage."""
    folder = store.validate.folder(group) if group is not None else None
    start = store.day_or_time(since) if since is not None else None
    now = store.utcnow()
    with opened(db, must_exist=True, services=False) as conn:
        totals = {t.folder: t for t in usage_totals(conn, folder=folder, since=start)}
        budgets: dict[str, dict[str, float]] = {}
        for settings in all_folder_settings(conn):
            given = {"day": settings.budget_usd_day, "month": settings.budget_usd_month}
            if found := {p: v for p, v in given.items() if v is not None}:
                budgets[settings.folder] = found
        folders = sorted({*totals, *(f for f in budgets if folder is None or f == folder)})
        rows = []
        for name in folders:
            current: dict[str, float] = {
                p: spent_since(conn, name, period_start(p, now)) for p in PERIODS
            }
            limits = budgets.get(name, {})
            total = totals.get(name) or UsageTotal(name, 0, 0, 0, 0, 0.0)
            rows.append((total, current, limits))
    if as_json:
        print_json([as_json_row(t, c, b) for t, c, b in rows])
        return
    print_table(
        [
            "group",
            "runs",
            "with usage",
            "input tokens",
            "output tokens",
            "cost $",
            "today $",
            "this month $",
        ],
        [
            [
                t.folder,
                t.runs,
                t.reported,
                f"{t.input_tokens:,}",
                f"{t.output_tokens:,}",
                f"{t.cost_usd:.2f}",
                against(c["day"], b.get("day")),
                against(c["month"], b.get("month")),
            ]
            for t, c, b in rows
        ],
        "no agent runs yet"
        + (f" of {folder}" if folder else "")
        + (f" since {since}" if since else ""),
    )


def against(spent: float, budget: float | None) -> str:
    """`1.20` or, with a budget, `1.20 / 5.00 (24%)`."""
    if budget is None:
        return f"{spent:.2f}"
    return f"{spent:.2f} / {budget:.2f} ({spent / budget:.0%})"


def as_json_row(
    total: UsageTotal, current: dict[str, float], budgets: dict[str, float]
) -> dict[str, Any]:
    return {
        **total.as_json(),
        "spent_today_usd": round(current["day"], 6),
        "spent_this_month_usd": round(current["month"], 6),
        "budget_usd_day": budgets.get("day"),
        "budget_usd_month": budgets.get("month"),
    }
