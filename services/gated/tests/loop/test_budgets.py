"""Budgets in a real gated, with an agent that reports $1 a run against a $5 daily budget:
each run's usage is stored; at 80 % the operator chat is told once; at 100 % the next message
gets one refusal and no agent starts (more messages: no more refusals, no runs); raising the
budget runs what waited; a hostile agent's usage is bounded, not trusted as given."""

from __future__ import annotations

import sqlite3
import time

import store
from gated_loop_support import Gated, agent_command, put, reply_texts, runs, wait_for
from store.usage import usage_totals


def operator_texts(conn: sqlite3.Connection) -> list[str]:
    return reply_texts(conn, "web:b-ops")


def ended(conn: sqlite3.Connection, folder: str) -> int:
    """The folder's runs that ended (a reply is stored before its run's end is)."""
    return sum(1 for r in runs(conn, folder) if r["ended_at"] is not None)


def test_a_used_up_budget_refuses_once_and_raising_it_resumes(
    gated: Gated, conn: sqlite3.Connection
) -> None:
    store.register_group(conn, "web:b-ops", "b-ops", is_operator=True)
    store.register_group(conn, "web:b-paid", "b-paid")
    store.update_folder_settings(
        conn,
        "b-paid",
        {"command": agent_command("costly.py"), "budget_usd_day": "5", "env.AGENT_COST_USD": "1"},
        [],
    )
    for n in range(1, 6):  # one run at a time: each ends before the next message
        put(conn, "web:b-paid", f"question {n}")
        wait_for(lambda n=n: ended(conn, "b-paid") == n, 30, f"run {n}")
        told = max(0, n - 3)  # $4 of $5: told at the run that crossed 80 %; $5: used up
        wait_for(lambda t=told: len(operator_texts(conn)) >= t, 10, f"{told} notices")
        assert len(operator_texts(conn)) == told
    assert reply_texts(conn, "web:b-paid") == [f"paid: question {n}" for n in range(1, 6)]
    [total] = usage_totals(conn, folder="b-paid")
    assert (total.runs, total.input_tokens, total.output_tokens, total.cost_usd) == (
        5,
        500,
        100,
        5.0,
    )
    warned, used_up = operator_texts(conn)
    assert warned == (
        "Budget of group b-paid at 80%: daily budget: $4.00 of $5.00 spent today (UTC)."
    )
    assert used_up.startswith("Budget of group b-paid used up: daily budget: $5.00 of $5.00")

    # Used up: the next message is refused once, and no agent starts.
    put(conn, "web:b-paid", "question 6")
    wait_for(lambda: len(reply_texts(conn, "web:b-paid")) == 6, 15, "the refusal")
    refusal = reply_texts(conn, "web:b-paid")[-1]
    assert refusal.startswith("This group has used its daily budget: $5.00 of $5.00 spent")
    assert "raises budget_usd_day" in refusal
    put(conn, "web:b-paid", "question 7")
    time.sleep(3)  # a run would start within milliseconds
    assert len(runs(conn, "b-paid")) == 5
    assert len(reply_texts(conn, "web:b-paid")) == 6  # one refusal, not one per message
    assert len(operator_texts(conn)) == 2  # and the operators are not told again

    # Raised: what waited runs as one batch, within the recheck interval.
    store.update_folder_settings(conn, "b-paid", {"budget_usd_day": "10"}, [])
    wait_for(lambda: len(reply_texts(conn, "web:b-paid")) == 8, 20, "the waiting answers")
    assert reply_texts(conn, "web:b-paid")[-2:] == ["paid: question 6", "paid: question 7"]
    assert len(runs(conn, "b-paid")) == 6


def test_a_hostile_agents_usage_is_bounded(gated: Gated, conn: sqlite3.Connection) -> None:
    store.register_group(conn, "web:b-liar", "b-liar")
    store.update_folder_settings(
        conn, "b-liar", {"command": agent_command("costly.py"), "env.AGENT_COST_USD": "1e300"}, []
    )
    put(conn, "web:b-liar", "hi")
    wait_for(lambda: ended(conn, "b-liar") == 1, 30, "the run's end")
    [total] = usage_totals(conn, folder="b-liar")
    assert total.cost_usd == store.usage.MAX_RUN_COST_USD
