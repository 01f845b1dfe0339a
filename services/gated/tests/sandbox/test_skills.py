"""The shared skills directory (`--skills-dir`) in real runs: read-only at /skills in a confined
run (the agent reads a skill, cannot change or add one), the host path for an unconfined run,
refused when it overlaps the database's directory, and a missing directory stops gated at start
with one line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import store
from gated_loop_support import group_dir, put, reply_texts, runs, start_gated, stop_gated
from gated_loop_support import wait_for as _wait_for

# Reports $SWITCHBOARD_SKILLS, a skill's text and, asked to "write", whether it could change
# or add one.
SKILLS_AGENT = r"""
import json, os, sys
batch = json.loads(sys.stdin.readline())
skills = os.environ.get("SWITCHBOARD_SKILLS")
report = {"env": skills, "skill": open(os.path.join(skills, "weather.md")).read()}
writes = (("weather.md", "a"), ("planted.md", "w"))
for name, mode in writes if batch["messages"][-1]["content"] == "write" else ():
    try:
        open(os.path.join(skills, name), mode).write("changed by the agent")
        report[name] = "written"
    except OSError as exc:
        report[name] = type(exc).__name__
print(json.dumps({"type": "message", "text": json.dumps(report)}))
print(json.dumps({"type": "result", "status": "ok"}))
"""
SKILL = "# Weather\nAsk the forecast tool; answer in one line.\n"


def skills_group(conn: sqlite3.Connection, db: Path, folder: str, *, sandbox: str) -> None:
    (group_dir(db, folder) / "agent.py").write_text(SKILLS_AGENT)
    store.register_group(
        conn, f"web:{folder}", folder, agent_config={"command": f"{sys.executable} agent.py"}
    )
    store.update_folder_settings(conn, folder, {"sandbox": sandbox}, ())


def report_of(conn: sqlite3.Connection, jid: str) -> dict[str, str]:
    _wait_for(lambda: reply_texts(conn, jid), 30, f"the skills agent's report in {jid}")
    report: dict[str, str] = json.loads(reply_texts(conn, jid)[0])
    return report


def test_skills_are_read_only_in_the_sandbox_and_named_to_unconfined_runs(
    bwrap: str, data_dir: Path
) -> None:
    db = data_dir / "state" / "messages.db"
    db.parent.mkdir()
    store.open(db).close()
    skills = data_dir / "skills"
    skills.mkdir()
    (skills / "weather.md").write_text(SKILL)
    env = {"SWITCHBOARD_SANDBOX": "bwrap", "SWITCHBOARD_SKILLS_DIR": str(skills)}
    gated = start_gated(db, env=env)
    conn = gated.conn()
    try:
        skills_group(conn, db, "confined", sandbox="bwrap")
        skills_group(conn, db, "loose", sandbox="none")
        put(conn, "web:confined", "write")
        put(conn, "web:loose", "read")

        confined = report_of(conn, "web:confined")
        assert confined["env"] == "/skills"
        assert confined["skill"] == SKILL
        assert confined["weather.md"] in ("OSError", "PermissionError")
        assert confined["planted.md"] in ("OSError", "PermissionError")
        assert (skills / "weather.md").read_text() == SKILL
        assert sorted(p.name for p in skills.iterdir()) == ["weather.md"]

        (daemon,) = [d for d in store.list_daemons(conn) if d.name == "gated"]
        assert daemon.info["sandbox"]["skills_dir"] == str(skills)

        loose = report_of(conn, "web:loose")
        assert loose["env"] == str(skills)
        assert loose["skill"] == SKILL
    finally:
        conn.close()
        assert stop_gated(gated) == 0, gated.log_text()


def test_a_skills_dir_in_the_databases_directory_is_refused(data_dir: Path) -> None:
    db = data_dir / "messages.db"
    store.open(db).close()
    skills = data_dir / "skills"  # beside secrets.key and the WAL
    skills.mkdir()
    (skills / "weather.md").write_text(SKILL)
    gated = start_gated(db, env={"SWITCHBOARD_SKILLS_DIR": str(skills)})
    conn = gated.conn()
    try:
        skills_group(conn, db, "near", sandbox="none")
        put(conn, "web:near", "read")
        _wait_for(lambda: any(r["result"] for r in runs(conn, "near")), 30, "the run refused")
        refused = runs(conn, "near")[0]
        assert refused["result"] == "error"
        assert refused["error"].startswith("agent not started: skills_dir:"), dict(refused)
        assert "overlaps" in refused["error"]
        assert reply_texts(conn, "web:near") == []
    finally:
        conn.close()
        assert stop_gated(gated) == 0, gated.log_text()


def test_a_missing_skills_dir_stops_gated_at_start(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gated.main",
            "--db",
            str(tmp_path / "messages.db"),
            "--skills-dir",
            str(tmp_path / "nowhere"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "--skills-dir" in proc.stderr
    assert "is not an existing directory" in proc.stderr
