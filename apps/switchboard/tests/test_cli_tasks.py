"""`switchboard task ...`: the real Typer app on a real db (in-process for speed), the real
console script for the stderr contract, and a real timed process picking up a CLI-added task
without a restart."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import store
from switchboard.cli import app
from testkit import wait_for
from typer.testing import CliRunner

CLI = str(Path(sys.executable).parent / "switchboard")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "messages.db"
    conn = store.open(path)
    store.register_group(conn, "web:demo", "demo")
    conn.close()
    return path


def sb(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args, "--db", str(db)], capture_output=True, text=True, timeout=60)


def ok(db: Path, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--db", str(db)])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def failure(db: Path, *args: str) -> str:
    """The error a command raises (cli.main prints it as one `error: ...` line)."""
    result = CliRunner().invoke(app, [*args, "--db", str(db)])
    assert result.exit_code != 0
    assert isinstance(result.exception, store.StoreError), result.output
    return f"error: {result.exception}"


@pytest.fixture
def timed(db: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / "timed.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "timed.main", "--db", str(db)], stdout=log, stderr=log
    )
    conn = store.connect(db)
    wait_for(
        lambda: (
            proc.poll() is not None
            or conn.execute(
                "SELECT 1 FROM daemons WHERE name = 'timed' AND pid = ?", (proc.pid,)
            ).fetchone()
        ),
        15,
        "timed's heartbeat",
    )
    conn.close()
    assert proc.poll() is None, (tmp_path / "timed.log").read_text()
    yield proc
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


def test_add_list_pause_resume_run_now_runs_rm(db: Path) -> None:
    out = ok(
        db,
        "task",
        "add",
        "--chat",
        "web:demo",
        "--cron",
        "30 2 * * *",
        "--tz",
        "Europe/Prague",
        "--prompt",
        "morning report",
        "--isolated",
    )
    assert out.startswith("task 1 added: cron 30 2 * * * (Europe/Prague); next run ")
    listing = ok(db, "task", "list")
    assert "CET" in listing or "CEST" in listing
    assert "Z" in listing.splitlines()[2]
    [task] = json.loads(ok(db, "task", "list", "--json"))
    assert (task["id"], task["context"], task["tz"], task["status"]) == (
        1,
        "isolated",
        "Europe/Prague",
        "active",
    )
    assert task["next_run"].endswith(":30:00.000Z")

    assert ok(db, "task", "pause", "1").strip() == "task 1 paused"
    assert json.loads(ok(db, "task", "list", "--json"))[0]["status"] == "paused"
    assert ok(db, "task", "resume", "1").startswith("task 1 resumed; next run ")
    assert "fired now" in ok(db, "task", "run-now", "1")
    [run] = json.loads(ok(db, "task", "runs", "1", "--json"))
    assert (run["status"], run["note"]) == ("fired", "run-now")
    assert "run-now" in ok(db, "task", "runs", "1")
    conn = store.connect(db)
    msg = store.get_message(conn, run["message_seq"])
    conn.close()
    assert msg is not None
    assert (msg.content, msg.topic, msg.verb) == ("morning report", "task:1", "task")

    ok(db, "task", "add", "--chat", "web:demo", "--every", "15m", "--prompt", "p")
    ok(
        db,
        "task",
        "add",
        "--chat",
        "web:demo",
        "--at",
        "2099-01-01T09:00",
        "--tz",
        "America/New_York",
        "--prompt",
        "p",
        "--misfire",
        "skip",
    )
    tasks = json.loads(ok(db, "task", "list", "--json"))
    assert [t["kind"] for t in tasks] == ["cron", "interval", "once"]
    assert tasks[1]["interval_s"] == 900
    assert tasks[2]["run_at"] == "2099-01-01T14:00:00.000Z"
    assert tasks[2]["misfire"] == "skip"
    assert ok(db, "task", "rm", "1").strip() == "task 1 removed"
    assert [t["id"] for t in json.loads(ok(db, "task", "list", "--json"))] == [2, 3]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "0 25 * * *"], "error: cron: bad hour field '25'"),
        (["--cron", "0 9 * * *", "--tz", "Mars/Base"], "error: tz: unknown timezone"),
        (["--every", "5s"], "error: every: 5s is shorter than the minimum 10s"),
        (["--every", "soon"], "error: every: 'soon' is not a duration"),
        (["--at", "2001-01-01T00:00Z"], "error: at: 2001-01-01T00:00:00.000Z is in the past"),
        (["--at", "tomorrow"], "error: at: 'tomorrow' is not an ISO time"),
        ([], "error: schedule: give exactly one of --cron, --every or --at"),
        (["--every", "1h", "--misfire", "never"], "error: misfire: 'never' is not one of"),
        (
            ["--every", "1h", "--chat", "web:ghost"],
            "error: chat_jid: web:ghost is not a registered",
        ),
    ],
)
def test_bad_input_names_the_field(db: Path, args: list[str], message: str) -> None:
    if "--chat" not in args:
        args = ["--chat", "web:demo", *args]
    assert failure(db, "task", "add", "--prompt", "p", *args).startswith(message)


@pytest.mark.parametrize("command", ["pause", "resume", "rm", "run-now", "runs"])
def test_unknown_task_id_is_an_error(db: Path, command: str) -> None:
    assert failure(db, "task", command, "42") == "error: no task with id 42"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "--chat", "web:demo", "--prompt", "p", "--every", "5s"], "error: every: 5s is"),
        (["rm", "42"], "error: no task with id 42"),
    ],
)
def test_console_script_prints_one_line_and_exits_non_zero(
    db: Path, args: list[str], message: str
) -> None:
    proc = sb(db, "task", *args)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(message)


def test_task_added_by_cli_fires_within_a_second_without_restart(
    db: Path, timed: subprocess.Popen[bytes]
) -> None:
    at = store.utcnow() + timedelta(seconds=4)
    ok(db, "task", "add", "--chat", "web:demo", "--at", store.iso(at), "--prompt", "ping")
    conn = store.connect(db)
    wait_for(lambda: conn.execute("SELECT 1 FROM task_runs").fetchone(), 20, "a task run")
    run = conn.execute("SELECT * FROM task_runs").fetchone()
    msg = store.get_message(conn, run["message_seq"])
    conn.close()
    lateness = store.parse_iso(run["fired_at"]) - store.parse_iso(run["slot"])
    assert timedelta(0) <= lateness <= timedelta(seconds=1)
    assert msg is not None
    assert (msg.content, msg.sender, msg.source) == ("ping", "scheduler", "timed")
    assert timed.poll() is None


def test_add_shows_the_next_three_runs_in_the_task_zone(db: Path) -> None:
    # `9-9` is 9 (crontab(5)): three runs on three days at 09:00 Prague time, not every hour.
    args = ["task", "add", "--chat", "web:demo", "--cron", "0 9-9 * * *", "--tz", "Europe/Prague"]
    out = ok(db, *args, "--prompt", "standup")
    first, second = out.strip().splitlines()
    assert first.startswith("task 1 added: cron 0 9-9 * * * (Europe/Prague); next run ")
    assert second.startswith("next 3 runs (Europe/Prague): ")
    shown = second.split(": ", 1)[1].split(", ")
    assert len(shown) == 3
    days = set()
    for run in shown:
        day, clock, name = run.split(" ")
        assert (clock, name in ("CET", "CEST")) == ("09:00:00", True)
        days.add(day)
    assert len(days) == 3

    added = json.loads(ok(db, *args, "--prompt", "standup", "--json"))
    assert len(added["next_runs"]) == 3
    assert added["next_runs"] == sorted(added["next_runs"])
    listed = {t["id"]: t for t in json.loads(ok(db, "task", "list", "--json"))}
    assert listed[2]["next_run"] == added["next_runs"][0]


def test_add_of_an_interval_task_shows_no_cron_preview(db: Path) -> None:
    out = ok(db, "task", "add", "--chat", "web:demo", "--every", "1h", "--prompt", "p")
    assert len(out.strip().splitlines()) == 1
    assert "next_runs" not in json.loads(
        ok(db, "task", "add", "--chat", "web:demo", "--every", "1h", "--prompt", "p", "--json")
    )
