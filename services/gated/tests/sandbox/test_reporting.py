"""Whether agents are confined is never a secret: with bubblewrap unusable, `sandbox=auto` runs
the agent unconfined and status, doctor, the dashboard and the operator group say so;
`--require-sandbox` refuses the run instead; a working sandbox is reported with its limits."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import store
from gated_loop_support import put, reply_texts, runs, start_gated, stop_gated, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "dashd" / "tests"))
from dashd.users import add_user
from dashd_harness import PASSWORD, open_db, signed_in, start_dashd

BIN = Path(sys.executable).parent
UNUSABLE = ("--bwrap", "/bin/false")


def switchboard(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SWITCHBOARD_DB": str(db)}
    return subprocess.run(
        [str(BIN / "switchboard"), *args], capture_output=True, text=True, env=env, timeout=60
    )


def gated_sandbox_info(conn: sqlite3.Connection) -> dict[str, object]:
    row = conn.execute("SELECT info FROM daemons WHERE name = 'gated'").fetchone()
    return dict(json.loads(row[0])["sandbox"])


def test_auto_without_bubblewrap_runs_unconfined_and_everyone_is_told(data_dir: Path) -> None:
    db = data_dir / "messages.db"
    store.open(db).close()
    conn = store.connect(db)
    store.register_group(conn, "web:ops", "ops", is_operator=True)
    store.register_group(conn, "web:demo", "demo")
    gated = start_gated(db, *UNUSABLE, env={"SWITCHBOARD_SANDBOX": "auto"})
    try:
        put(conn, "web:demo", "hello")
        wait_for(lambda: reply_texts(conn, "web:demo") == ["echo: hello"], 15, "the reply")
        info = gated_sandbox_info(conn)
        assert info["unconfined"] is True
        assert info["confined"] is False
        assert "/bin/false" in str(info["unconfined_reason"])
        put(conn, "web:demo", "again")
        wait_for(lambda: len(reply_texts(conn, "web:demo")) == 2, 15, "the second reply")
        # One system message for the operator group per gated start, not one per run.
        events = [m.event for m in store.pending_system_messages(conn, "ops")]
        assert events == ["sandbox_unconfined"]

        status = switchboard(db, "status")
        assert status.returncode == 0, status.stderr
        assert "sandbox: UNCONFINED" in status.stdout
        doctor = switchboard(db, "doctor")
        assert doctor.returncode == 1
        assert "PROBLEM: sandbox: UNCONFINED" in doctor.stdout

        dconn = open_db(db)
        add_user(dconn, "admin", PASSWORD)
        dconn.close()
        dashd = start_dashd(db, data_dir)
        try:
            client = signed_in(dashd, "admin")
            html = client.get("/status/live").text
            client.close()
            assert 'data-sandbox="unconfined"' in html
            assert "UNCONFINED" in html
        finally:
            assert dashd.stop() == 0
    finally:
        conn.close()
        assert stop_gated(gated) == 0, gated.log_text()


def test_require_sandbox_refuses_an_unconfined_run(data_dir: Path) -> None:
    db = data_dir / "messages.db"
    store.open(db).close()
    conn = store.connect(db)
    marker = data_dir / "groups" / "demo" / "ran"
    command = f"{sys.executable} -c \"open('ran', 'w')\""
    store.register_group(conn, "web:demo", "demo", agent_config={"command": command})
    gated = start_gated(db, *UNUSABLE, "--require-sandbox", env={"SWITCHBOARD_SANDBOX": "auto"})
    try:
        put(conn, "web:demo", "hello")
        wait_for(lambda: [r for r in runs(conn, "demo") if r["result"]], 15, "the failed run")
        row = next(r for r in runs(conn, "demo") if r["result"])
        assert row["result"] == "error"
        assert "refusing to run the agent unconfined" in row["error"]
        assert "--require-sandbox" in row["error"]
        assert not marker.exists()
        assert reply_texts(conn, "web:demo") == []
        info = gated_sandbox_info(conn)
        assert info["unconfined"] is False
        assert info["require"] is True
        assert "required but unusable" in switchboard(db, "status").stdout
    finally:
        conn.close()
        assert stop_gated(gated) == 0, gated.log_text()


def test_a_working_sandbox_is_reported_confined_with_its_limits(bwrap: str, data_dir: Path) -> None:
    db = data_dir / "messages.db"
    store.open(db).close()
    gated = start_gated(db, env={"SWITCHBOARD_SANDBOX": "auto"})
    try:
        conn = store.connect(db)
        info = gated_sandbox_info(conn)
        conn.close()
        assert info["confined"] is True
        status = switchboard(db, "status")
        assert "agents confined" in status.stdout
        doctor = switchboard(db, "doctor", "--json")
        checks = json.loads(doctor.stdout)["checks"]
        assert "agents confined" in checks["sandbox"]
        assert {"limit memory", "limit pids", "limit cpu", "limit disk"} <= set(checks)
        assert not [p for p in json.loads(doctor.stdout)["problems"] if "sandbox" in p]
    finally:
        assert stop_gated(gated) == 0, gated.log_text()
