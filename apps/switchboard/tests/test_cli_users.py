"""`switchboard user add|list|rm|passwd` run as a real process against a real db file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import store
from dashd.users import verify_login

PASSWORD = "correct horse battery"


def sb(db: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "switchboard"
    return subprocess.run(
        [str(exe), *args, "--db", str(db)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_user_add_list_passwd_rm(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    r = sb(
        db,
        "user",
        "add",
        "alice",
        "--group",
        "demo",
        "--group",
        "sales",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert r.returncode == 0, r.stderr
    assert "alice: demo, sales" in r.stdout
    assert sb(db, "user", "add", "root", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    listed = json.loads(sb(db, "user", "list", "--json").stdout)
    assert [(u["username"], u["folders"], u["operator"]) for u in listed] == [
        ("alice", ["demo", "sales"], False),
        ("root", [], True),
    ]
    assert "(operator)" in sb(db, "user", "list").stdout
    r = sb(db, "user", "passwd", "alice", "--password-stdin", stdin="a new password\n")
    assert r.returncode == 0, r.stderr
    conn = store.connect(db)
    assert verify_login(conn, "alice", "a new password") is not None
    assert verify_login(conn, "alice", PASSWORD) is None
    assert sb(db, "user", "rm", "alice").returncode == 0
    assert [u["username"] for u in json.loads(sb(db, "user", "list", "--json").stdout)] == ["root"]


def test_errors_are_one_line_and_non_zero(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    weak = sb(db, "user", "add", "bob", "--password-stdin", stdin="short\n")
    assert weak.returncode == 2
    assert weak.stderr.strip() == "error: password: too short; use at least 8 characters"
    missing = sb(db, "user", "rm", "ghost")
    assert missing.returncode == 2
    assert "ghost" in missing.stderr
    assert "no dashboard users" in sb(db, "user", "list").stdout


def test_password_prompt_asks_twice(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    r = sb(db, "user", "add", "carol", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert r.returncode == 0, r.stderr + r.stdout
    assert "Repeat for confirmation" in r.stdout
    conn = store.connect(db)
    assert verify_login(conn, "carol", PASSWORD) is not None
