"""`switchboard usage`: per group the runs, tokens and dollars agents reported, and the spend
today and this month against the budgets set with `group config --set budget_usd_day=…`;
`--group`, `--since`, `--json`; a bad date or budget is one line on stderr with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import store
from store.usage import RunUsage
from switchboard.cli import app
from switchboard.schemas import open_all
from testkit.runs import start_run
from typer.testing import CliRunner

CLI = str(Path(sys.executable).parent / "switchboard")


def ok(db: Path, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--db", str(db)])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """demo: two runs that reported usage and one that did not; quiet: a budget, no runs."""
    path = tmp_path / "messages.db"
    conn = open_all(path)
    store.register_group(conn, "web:demo", "demo")
    store.register_group(conn, "web:quiet", "quiet")
    for n, usage in enumerate([RunUsage(1200, 300, 0.75), RunUsage(800, 200, 0.5), None]):
        run = start_run(conn, "demo", f"t{n}", "web:demo", None)
        store.end_run(conn, run, "ok", usage=usage)
    conn.close()
    return path


def test_usage_per_group_with_the_budgets(db: Path) -> None:
    ok(db, "group", "config", "demo", "--set", "budget_usd_day=5")
    ok(db, "group", "config", "quiet", "--set", "budget_usd_month=20")
    lines = ok(db, "usage").splitlines()
    assert lines[0].split() == [
        "group", "runs", "with", "usage", "input", "tokens", "output", "tokens", "cost", "$",
        "today", "$", "this", "month", "$",
    ]  # fmt: skip
    assert lines[2].split() == [
        "demo",
        "3",
        "2",
        "2,000",
        "500",
        "1.25",
        "1.25",
        "/",
        "5.00",
        "(25%)",
        "1.25",
    ]
    assert lines[3].split() == ["quiet", "0", "0", "0", "0", "0.00", "0.00", "0.00", "/",
                                "20.00", "(0%)"]  # fmt: skip
    [demo] = json.loads(ok(db, "usage", "--group", "demo", "--json"))
    assert demo == {
        "folder": "demo",
        "runs": 3,
        "runs_with_usage": 2,
        "input_tokens": 2000,
        "output_tokens": 500,
        "cost_usd": 1.25,
        "spent_today_usd": 1.25,
        "spent_this_month_usd": 1.25,
        "budget_usd_day": 5.0,
        "budget_usd_month": None,
    }
    shown = [line.split(None, 1) for line in ok(db, "group", "config", "demo").splitlines()]
    assert ["budget_usd_day", "5                          own"] in shown
    assert ["budget_usd_month", "(no budget)                default"] in shown


def test_since_counts_only_later_runs(db: Path) -> None:
    assert ok(db, "usage", "--since", "2100-01-01") == "no agent runs yet since 2100-01-01\n"
    [demo] = json.loads(ok(db, "usage", "--since", "2020-01-01T00:00:00Z", "--json"))
    assert demo["runs"] == 3


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["usage", "--since", "yesterday"], "error: since: 'yesterday' is not a date (2026-12-01) "
         "or a time with a zone\n"),
        (["group", "config", "demo", "--set", "budget_usd_day=lots"],
         "error: budget_usd_day: 'lots' is not an amount of US dollars (like 5 or 2.50)\n"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(db: Path, args: list[str], said: str) -> None:
    proc = subprocess.run([CLI, *args, "--db", str(db)], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", said)
