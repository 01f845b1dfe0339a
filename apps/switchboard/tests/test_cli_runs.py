"""`switchboard runs list|show`: the session log with each run's tool-call count, one run with
every call in order (text and --json), a database gated never migrated (no `tool_calls`: zero
calls, no crash) and an unknown run id as one line on stderr with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import store
from switchboard.cli import app
from switchboard.schemas import open_all
from testkit.runs import record_call, start_run
from typer.testing import CliRunner

CLI = str(Path(sys.executable).parent / "switchboard")


def ok(db: Path, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--db", str(db)])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


@pytest.fixture
def db(tmp_path: Path) -> tuple[Path, int, int]:
    """Every schema; a finished run of demo with three calls and a running run of other."""
    path = tmp_path / "messages.db"
    conn = open_all(path)
    first = start_run(conn, "demo", "", "web:demo", None)
    record_call(conn, first, 1, "chat_info", {}, result={"chat_jid": "web:demo"})
    record_call(conn, first, 2, "send_message", {"text": "hello there"}, result={"seq": 7})
    record_call(
        conn,
        first,
        3,
        "schedule_task",
        {"prompt": "x" * 500},
        error=("denied", "schedule_task is not granted to demo"),
    )
    store.end_run(conn, first, "error", error="agent said:\n  it went wrong")
    second = start_run(conn, "other", "task:4", "web:other", None)
    conn.close()
    return path, first, second


def test_list_shows_runs_newest_first_with_their_call_counts(db: tuple[Path, int, int]) -> None:
    path, first, second = db
    lines = ok(path, "runs", "list").splitlines()
    assert lines[0].split() == [
        "run",
        "folder",
        "chat",
        "topic",
        "started",
        "ended",
        "result",
        "calls",
        "error",
    ]
    assert lines[2].split()[:3] == [str(second), "other", "web:other"]
    assert "running" in lines[2]
    assert lines[3].split()[:3] == [str(first), "demo", "web:demo"]
    assert " 3 " in lines[3]
    assert lines[3].endswith("agent said: it went wrong")

    data = json.loads(ok(path, "runs", "list", "--json"))
    assert [(r["id"], r["tool_calls"]) for r in data] == [(second, 0), (first, 3)]
    only = json.loads(ok(path, "runs", "list", "--folder", "demo", "--limit", "5", "--json"))
    assert [r["id"] for r in only] == [first]


def test_show_lists_every_call_in_order(db: tuple[Path, int, int]) -> None:
    path, first, _ = db
    out = ok(path, "runs", "show", str(first))
    assert out.startswith(f"run {first}: demo, chat web:demo\n")
    assert "result   error" in out
    table = out.split("\n\n", 1)[1].splitlines()
    assert table[0].split() == ["time", "tool", "status", "ms", "args", "error", "result"]
    assert [row.split()[1] for row in table[2:]] == ["chat_info", "send_message", "schedule_task"]
    assert table[2].split()[0] == "09:00:01.500"
    assert '{"text": "hello there"}' in table[3]
    assert "denied: schedule_task is not granted" in table[4]
    assert "…" in table[4]  # the long prompt is shortened in the table

    data = json.loads(ok(path, "runs", "show", str(first), "--json"))
    assert data["result"] == "error"
    calls = data["tool_calls"]
    assert [c["tool"] for c in calls] == ["chat_info", "send_message", "schedule_task"]
    assert calls[1]["args"] == {"text": "hello there"}
    assert calls[1]["result"] == {"seq": 7}
    assert calls[2]["args"] == {"prompt": "x" * 500}
    assert (calls[2]["status"], calls[2]["error_code"]) == ("error", "denied")


def test_a_run_without_calls_says_so(db: tuple[Path, int, int]) -> None:
    path, _, second = db
    out = ok(path, "runs", "show", str(second))
    assert "ended    running" in out
    assert out.rstrip().endswith("no tool calls in this run")


def test_a_database_gated_never_migrated_shows_zero_calls(tmp_path: Path) -> None:
    path = tmp_path / "core-only.db"
    conn = store.open(path)
    run = start_run(conn, "demo", "", "web:demo", None)
    conn.close()
    assert json.loads(ok(path, "runs", "list", "--json"))[0]["tool_calls"] == 0
    assert json.loads(ok(path, "runs", "show", str(run), "--json"))["tool_calls"] == []
    conn = store.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert "tool_calls" not in tables  # reading created nothing


def test_an_unknown_run_is_one_line_on_stderr_and_exit_2(db: tuple[Path, int, int]) -> None:
    path, _, second = db
    proc = subprocess.run(
        [CLI, "runs", "show", str(second + 100), "--db", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == f"error: no run with id {second + 100} (see: switchboard runs list)\n"


def test_a_missing_database_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.db"
    proc = subprocess.run(
        [CLI, "runs", "list", "--db", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: db: no database at")
    assert not path.exists()
