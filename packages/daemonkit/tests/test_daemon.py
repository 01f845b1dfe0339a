"""The daemon life cycle every service shares (daemonkit): flags with env defaults, JSON
logs, sd_notify, heartbeat, a step on every change, and a clean stop on SIGTERM."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import store
from daemonkit.flags import add_common_args
from daemonkit.logs import JsonFormatter
from daemonkit.sdnotify import sd_notify
from daemonkit.settings import parse_settings
from testkit import wait_for

WORKER = Path(__file__).with_name("daemon_worker.py")


def test_common_flags_come_from_flag_env_or_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_DB", "/env.db")
    monkeypatch.setenv("SWITCHBOARD_LOG_FORMAT", "json")
    parser = argparse.ArgumentParser()
    add_common_args(parser)
    args = parse_settings(parser, ["--log-level", "debug"])
    assert (args.db, args.log_level, args.log_format) == ("/env.db", "DEBUG", "json")
    assert parse_settings(parser, ["--db", "/flag.db"]).db == "/flag.db"
    help_text = parser.format_help()
    for env in ("SWITCHBOARD_DB", "SWITCHBOARD_LOG_LEVEL", "SWITCHBOARD_LOG_FORMAT"):
        assert env in help_text


def test_bad_log_format_is_refused() -> None:
    parser = argparse.ArgumentParser()
    add_common_args(parser)
    with pytest.raises(SystemExit) as exited:
        parse_settings(parser, ["--log-format", "xml"])
    assert exited.value.code == 2


def test_json_log_lines_carry_level_logger_and_message() -> None:
    record = logging.LogRecord("gated.loop", logging.WARNING, __file__, 1, "chat=%s", ("x",), None)
    data = json.loads(JsonFormatter().format(record))
    assert (data["level"], data["logger"], data["msg"]) == ("WARNING", "gated.loop", "chat=x")
    assert store.parse_iso(data["ts"])


def test_sd_notify_outside_systemd_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sd_notify("READY=1") is False


def test_daemon_runs_steps_heartbeats_and_stops_cleanly_on_sigterm(
    db_path: Path, db: sqlite3.Connection, tmp_path: Path
) -> None:
    notify_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(20)
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(db_path)],
        env={**os.environ, "NOTIFY_SOCKET": str(notify_path)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        notes = [listener.recv(256).decode()]
        while notes[-1] != "READY=1":
            notes.append(listener.recv(256).decode())
        [d] = store.list_daemons(db)
        assert (d.name, d.pid, d.version, d.stopped_at) == ("testd", proc.pid, "0.0.1", None)
        assert store.get_state(db, "testd:started") == "yes"

        seq = store.put_message(db, store.NewMessage(id="1", chat_jid="web:x", content="hi")).seq
        wait_for(
            lambda: store.get_state(db, "testd:seen") == str(seq), 20, "a step after the commit"
        )

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        while "STOPPING=1" not in notes:
            notes.append(listener.recv(256).decode())
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=20)
        listener.close()
    [d] = store.list_daemons(db)
    assert d.stopped_at is not None
    assert store.get_state(db, "testd:stopped") == "yes"
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any("ready" in rec["msg"] for rec in logs), err
    assert any(rec["msg"] == "testd stopped" for rec in logs), err


def test_a_lease_owner_is_silent_only_after_several_missed_heartbeats() -> None:
    from daemonkit.runner import HEARTBEAT_S
    from store import liveness

    assert liveness.SILENT_AFTER_S >= 3 * HEARTBEAT_S


def test_a_store_newer_than_the_code_is_one_line_and_exit_2(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from daemonkit.runner import run_daemon

    conn = store.open(db_path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    started: list[object] = []
    cfg = argparse.Namespace(db_path=str(db_path), log_level="INFO", log_format="text")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        code = run_daemon(cfg, {}, lambda c: started.append(c))  # type: ignore[arg-type,func-returns-value]
    finally:  # run_daemon set up logging to this test's captured stderr: put it back
        root.handlers[:] = handlers
        root.setLevel(level)
    assert code == 2
    assert not started
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert "ERROR" in lines[0]
    assert "cannot open the store: " in lines[0]
