"""A folder's budgets (`budget_usd_day`, `budget_usd_month`): what its runs reported they cost
in the current UTC day and month, against them. At 80 % of a budget the operator groups are
told once per period; at 100 % no new run of the folder starts (a run already going is not
stopped): each chat that asks gets one reply saying so for the period, its messages wait, and
they run when the period rolls over or an operator raises the budget.

"Once" is the message id: each notice's id names the folder, period and chat, and storing an
id twice stores nothing (store.store_outbound), so no gated, restart or retry says it twice."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import store
from store import FolderSettings
from store.usage import PERIODS, Period, period_label, period_start, spent_since

log = logging.getLogger(__name__)

WARN_AT: Final = 0.8  # the share of a budget at which operators are told
RECHECK_S: Final = 5.0  # how often a refused chat's budget is looked at again
WORDS: Final[dict[Period, tuple[str, str, str]]] = {
    # period: (adjective, "this ..." as a person says it, when it rolls over)
    "day": ("daily", "today (UTC)", "at 00:00 UTC"),
    "month": ("monthly", "this month (UTC)", "on the 1st at 00:00 UTC"),
}


@dataclass(frozen=True, slots=True)
class Spend:
    """One budget of a folder in the current period, and what was spent against it."""

    folder: str
    period: Period
    label: str  # '2026-12-03' / '2026-12'
    budget: float
    spent: float

    @property
    def share(self) -> float:
        return self.spent / self.budget

    @property
    def key(self) -> str:
        return f"budget_usd_{self.period}"

    def describe(self) -> str:
        adjective, this, _ = WORDS[self.period]
        return f"{adjective} budget: ${self.spent:.2f} of ${self.budget:.2f} spent {this}"


def spends(conn: sqlite3.Connection, settings: FolderSettings, now: datetime) -> list[Spend]:
    """The folder's budgets that are set, each with its spend in the current period."""
    found = []
    for period in PERIODS:
        budget = settings.budget_usd_day if period == "day" else settings.budget_usd_month
        if budget is None:
            continue
        spent = spent_since(conn, settings.folder, period_start(period, now))
        found.append(Spend(settings.folder, period, period_label(period, now), budget, spent))
    return found


def exhausted(conn: sqlite3.Connection, folder: str, now: datetime) -> Spend | None:
    """The first of the folder's budgets that is used up, if one is (no run may start)."""
    settings = store.folder_settings(conn, folder)
    return next((s for s in spends(conn, settings, now) if s.spent >= s.budget), None)


def refuse(conn: sqlite3.Connection, spend: Spend, chat_jid: str, topic: str) -> bool:
    """Tell the chat once per period that its group's budget is used up (and the operators);
    True when this call stored the reply."""
    _, _, rolls = WORDS[spend.period]
    text = (
        f"This group has used its {spend.describe()}. Your messages are kept and will be "
        f"answered {rolls}, or sooner if an operator raises {spend.key}."
    )
    msg_id = refusal_id(spend, chat_jid, topic)
    first = store.find_message(conn, chat_jid, msg_id) is None
    store.store_outbound(
        conn,
        chat_jid,
        text,
        group_folder=spend.folder,
        source="gated",
        topic=topic,
        sender="switchboard",
        msg_id=msg_id,
    )
    tell_operators(conn, spend, "used up")
    if first:
        log.warning("budget used up; runs refused folder=%s %s", spend.folder, spend.describe())
    return first


def refusal_id(spend: Spend, chat_jid: str, topic: str) -> str:
    return f"budget:{spend.folder}:{spend.period}:{spend.label}:{chat_jid}:{topic}"


def after_run(conn: sqlite3.Connection, folder: str, now: datetime) -> None:
    """After a run that reported a cost: tell the operators of each budget past 80 %."""
    settings = store.folder_settings(conn, folder)
    for spend in spends(conn, settings, now):
        if spend.share >= 1:
            tell_operators(conn, spend, "used up")
        elif spend.share >= WARN_AT:
            tell_operators(conn, spend, f"at {spend.share:.0%}")


def tell_operators(conn: sqlite3.Connection, spend: Spend, state: str) -> None:
    """One message per operator chat, per folder, period and state ('used up' or 'at 8x %':
    the first crossing of 80 % names the share it was seen at, once)."""
    level = "100" if state == "used up" else "80"
    operators = store.operator_groups(conn)
    if not operators:
        log.warning("no operator group to tell of a budget folder=%s", spend.folder)
    for group in operators:
        what = "no new run starts until it rolls over or is raised" if level == "100" else ""
        text = f"Budget of group {spend.folder} {state}: {spend.describe()}" + (
            f"; {what}." if what else "."
        )
        store.store_outbound(
            conn,
            group.jid,
            text,
            group_folder=group.folder,
            source="gated",
            sender="switchboard",
            msg_id=f"budget:{spend.folder}:{spend.period}:{spend.label}:{level}:{group.jid}",
        )
