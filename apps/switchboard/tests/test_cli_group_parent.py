"""Parent folders from the CLI as a user runs it (real processes on a real file): `group add
--parent`, `group config --parent/--no-parent`, `group list` with the tree, settings shown with
where they come from; an unknown parent or a cycle is one line on stderr, exit non-zero."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import store
from switchboard.schemas import open_all

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")


def run_all(db: Path, *calls: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
    """Several independent invocations at once (the CLI's start-up dominates)."""
    procs = [
        subprocess.Popen(
            [SWITCHBOARD, *args, "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=db.parent,
        )
        for args in calls
    ]
    done = []
    for args, p in zip(calls, procs, strict=True):
        out, err = p.communicate(timeout=60)
        done.append(subprocess.CompletedProcess([*args], p.returncode, out, err))
    return done


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode != 0, proc
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines
    for word in words:
        assert word in lines[0], (word, lines[0])


def parents(db: Path) -> dict[str, str | None]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT jid, parent FROM registered_groups ORDER BY jid"))
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """org (agent org-agent, timeout 30) with the child dept."""
    path = tmp_path / "messages.db"
    conn = open_all(path)
    store.register_group(conn, "web:org", "org", agent_config={"command": "org-agent"})
    store.update_folder_settings(conn, "org", {"timeout_s": "30"}, [])
    store.register_group(conn, "web:dept", "dept", parent="org")
    conn.close()
    return path


def test_parent_folders_from_the_cli(db: Path) -> None:
    add, ghost, own, cycle, both = run_all(
        db,
        ("group", "add", "web:team", "team", "--parent", "dept"),
        ("group", "add", "web:x", "x", "--parent", "ghost"),
        ("group", "config", "dept", "--parent", "dept"),
        ("group", "config", "org", "--parent", "dept"),
        ("group", "config", "dept", "--parent", "org", "--no-parent"),
    )
    assert add.returncode == 0, add.stderr
    assert add.stdout.strip() == "registered web:team -> team (parent dept)"
    one_line_error(ghost, "parent", "no folder 'ghost'")
    one_line_error(own, "own parent", "cycle: dept -> dept")
    one_line_error(cycle, "cycle: org -> dept -> org")
    one_line_error(both, "not both")
    assert parents(db) == {"web:dept": "org", "web:org": None, "web:team": "dept"}

    text, as_json, team, team_json = run_all(
        db,
        ("group", "list"),
        ("group", "list", "--json"),
        ("group", "config", "team"),
        ("group", "config", "team", "--json"),
    )
    rows = [line.split() for line in text.stdout.splitlines()[2:]]
    assert [r[:3] for r in rows] == [
        ["web:org", "org", "org-agent"],
        ["web:dept", "dept", "org"],
        ["web:team", "team", "dept"],
    ]
    lines = text.stdout.splitlines()
    assert "   dept" in lines[3]
    assert "     team" in lines[4]
    listed = {g["jid"]: g["parent"] for g in json.loads(as_json.stdout)}
    assert listed == {"web:org": None, "web:dept": "org", "web:team": "dept"}
    assert {g["jid"]: g["command"] for g in json.loads(as_json.stdout)}["web:team"] == "org-agent"
    assert team.stdout.splitlines()[0] == "team: parent dept"
    table = {line.split()[0]: line for line in team.stdout.splitlines()[3:]}
    assert table["command"].split()[1:] == ["org-agent", "inherited", "from", "org"]
    assert table["timeout_s"].split()[1:] == ["30", "inherited", "from", "org"]
    assert table["pids"].split()[1:] == ["256", "default"]
    shown = json.loads(team_json.stdout)
    assert shown["parent"] == "dept"
    assert shown["settings"]["command"] == "org-agent"
    assert shown["inherited"] == {"command": "org", "timeout_s": "org"}

    moved, cleared = run_all(
        db,
        ("group", "config", "team", "--parent", "org", "--set", "timeout_s=5"),
        ("group", "config", "dept", "--no-parent"),
    )
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.splitlines()[0] == "team: parent org; set timeout_s"
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.splitlines()[0] == "dept: no parent"
    assert parents(db) == {"web:dept": None, "web:org": None, "web:team": "org"}
