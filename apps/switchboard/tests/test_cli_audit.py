"""The audit log from the CLI: every administrative command logs exactly one row per change, as
the OS user, with the object before and after; a refused command logs nothing; no secret value,
password or share token reaches the database; `switchboard audit` and its filters (the real Typer
app on a real db, in-process for speed; the console script for the stderr contract)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import store
from store import audit
from store.audit import AuditEntry
from switchboard.cli import app
from switchboard.cli_actor import os_user, remote_of
from switchboard.schemas import open_all
from testkit.audit import entries_after, holds
from testkit.onboarding import pending_request
from typer.testing import CliRunner

CLI = str(Path(sys.executable).parent / "switchboard")
PASSWORD = "correct horse battery"
SECRET = 'sk-canary-7f3e9a1b"}, "value": "leak'


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database with every schema and two onboarding requests waiting for an operator."""
    path = tmp_path / "messages.db"
    conn = open_all(path)
    pending_request(conn, "tg:1", "blue-sky")
    pending_request(conn, "tg:2", "red-sea")
    conn.close()
    return path


def run(db: Path, *args: str, stdin: str = "") -> Any:
    return CliRunner().invoke(app, [*args, "--db", str(db)], input=stdin)


def ok(db: Path, *args: str, stdin: str = "") -> str:
    result = run(db, *args, stdin=stdin)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return str(result.stdout)


def entries(db: Path, after_id: int = 0) -> list[AuditEntry]:
    """The log past `after_id`, oldest first."""
    conn = store.connect(db)
    try:
        return entries_after(conn, after_id)
    finally:
        conn.close()


# (command, stdin, [(action, target, before ⊇, after ⊇)]): run in this order on one database.
NONE = None
STEPS: list[tuple[list[str], str, list[tuple[str, str, Any, Any]]]] = [
    (
        ["group", "add", "web:demo", "demo", "--agent", "echo-agent"],
        "",
        [
            ("group.add", "web:demo", NONE, {"folder": "demo", "is_operator": False}),
            ("group.config.set", "demo", {}, {"command": "echo-agent"}),
        ],
    ),
    (
        ["group", "add", "web:kid", "kid", "--name", "Kid"],
        "",
        [("group.add", "web:kid", NONE, {"folder": "kid", "name": "Kid", "parent": None})],
    ),
    (
        ["group", "config", "demo", "--set", "timeout_s=30", "--unset", "command"],
        "",
        [("group.config.set", "demo", {"command": "echo-agent"}, {"timeout_s": 30.0})],
    ),
    (
        ["group", "config", "kid", "--parent", "demo"],
        "",
        [("group.parent.set", "kid", {"parent": None}, {"parent": "demo"})],
    ),
    (
        ["group", "persona", "demo"],
        "You are the demo agent.\n",
        [("persona.set", "demo", {}, {"bytes": 24})],
    ),
    (
        ["route", "add", "web:demo", "keyword", "kid", "--match", "help"],
        "",
        [("route.add", "web:demo", NONE, {"id": 1, "type": "keyword", "match": "help"})],
    ),
    (["route", "rm", "1"], "", [("route.remove", "web:demo", {"id": 1, "target": "kid"}, NONE)]),
    (
        ["group", "share", "demo"],
        "",
        [("share.create", "demo", NONE, {"folder": "demo", "frame_ancestors": []})],
    ),
    (
        ["group", "share", "demo", "--rotate", "--allow-origin", "https://example.com"],
        "",
        [
            ("share.rotate", "demo", {"folder": "demo"}, {"folder": "demo"}),
            (
                "share.origins.set",
                "demo",
                {"frame_ancestors": []},
                {"frame_ancestors": ["https://example.com"]},
            ),
        ],
    ),
    (["group", "share", "demo", "--revoke"], "", [("share.revoke", "demo", {}, NONE)]),
    (
        ["secret", "set", "anthropic", "--upstream", "https://api.anthropic.com"],
        SECRET,
        [("secret.set", "anthropic", NONE, {"name": "anthropic", "header": "x-api-key"})],
    ),
    (
        ["secret", "set", "anthropic", "--expose", "env"],
        SECRET + "-2",
        [("secret.set", "anthropic", {"expose": "proxy"}, {"expose": "env"})],
    ),
    (["secret", "rm", "anthropic"], "", [("secret.remove", "anthropic", {}, NONE)]),
    (
        ["user", "add", "bob", "--group", "demo", "--password-stdin"],
        PASSWORD + "\n",
        [("user.add", "bob", NONE, {"username": "bob", "folders": ["demo"]})],
    ),
    (
        ["user", "passwd", "bob", "--password-stdin"],
        PASSWORD + " 2\n",
        [("user.password.set", "bob", NONE, NONE)],
    ),
    (["user", "rm", "bob"], "", [("user.remove", "bob", {"username": "bob"}, NONE)]),
    (
        ["task", "add", "--chat", "web:demo", "--prompt", "daily summary", "--every", "1h"],
        "",
        [("task.add", "task:1", NONE, {"prompt": "daily summary", "status": "active"})],
    ),
    (
        ["task", "pause", "1"],
        "",
        [("task.pause", "task:1", {"status": "active"}, {"status": "paused", "next_run": None})],
    ),
    (
        ["task", "resume", "1"],
        "",
        [("task.resume", "task:1", {"status": "paused"}, {"status": "active"})],
    ),
    (["task", "run-now", "1"], "", [("task.run_now", "task:1", NONE, {"status": "fired"})]),
    (["task", "rm", "1"], "", [("task.remove", "task:1", {"id": 1}, NONE)]),
    (
        ["onboarding", "approve", "tg:1"],
        "",
        [("onboarding.approve", "tg:1", {"status": "pending"}, {"status": "approved"})],
    ),
    (
        ["onboarding", "reject", "tg:2", "--reason", "full"],
        "",
        [("onboarding.reject", "tg:2", {"status": "pending"}, {"reason": "full"})],
    ),
    (["group", "rm", "web:kid"], "", [("group.remove", "web:kid", {}, NONE)]),
]


def test_each_cli_action_is_logged_once_with_its_before_and_after(db: Path) -> None:
    me = os_user(os.geteuid())
    last = 0
    for args, stdin, expected in STEPS:
        ok(db, *args, stdin=stdin)
        new = entries(db, last)
        assert [(e.action, e.target) for e in new] == [x[:2] for x in expected], args
        for entry, (_, _, before, after) in zip(new, expected, strict=True):
            assert holds(entry.before, before), (args, entry.before)
            assert holds(entry.after, after), (args, entry.after)
            assert (entry.actor, entry.origin) == (me, "cli")
            assert entry.remote.startswith("host="), entry.remote
        last = new[-1].id
    # Read-only commands log nothing.
    for args in (["group", "list"], ["route", "list"], ["task", "list"], ["user", "list"]):
        ok(db, *args)
    ok(db, "audit")
    assert entries(db, last) == []


REFUSED: list[tuple[list[str], str]] = [
    (["group", "add", "web:demo", "demo"], ""),  # already registered
    (["group", "config", "demo", "--set", "timeout_s=soon"], ""),
    (["group", "config", "demo", "--parent", "demo"], ""),  # a cycle
    (["group", "rm", "web:nobody"], ""),
    (["route", "rm", "99"], ""),
    (["route", "add", "web:demo", "pattern", "demo", "--match", "("], ""),
    (["group", "share", "demo", "--revoke"], ""),  # no link
    (["secret", "rm", "ghost"], ""),
    (["secret", "set", "anthropic", SECRET], ""),  # the value on argv
    (["user", "add", "eve", "--password-stdin"], "short\n"),
    (["user", "rm", "ghost"], ""),
    (["user", "passwd", "ghost", "--password-stdin"], PASSWORD + "\n"),
    (["task", "pause", "99"], ""),
    (["task", "add", "--chat", "web:nobody", "--prompt", "x", "--every", "1h"], ""),
    (["onboarding", "approve", "tg:9"], ""),
    (["onboarding", "reject", "tg:9"], ""),
    (["group", "persona", "nobody"], "text\n"),
]


def test_a_refused_command_logs_nothing(db: Path) -> None:
    ok(db, "group", "add", "web:demo", "demo")
    last = entries(db)[-1].id
    for args, stdin in REFUSED:
        assert run(db, *args, stdin=stdin).exit_code != 0, args
        assert entries(db, last) == [], args


def test_no_secret_value_password_or_share_token_reaches_the_database(db: Path) -> None:
    """Attack: secret values shaped like JSON and like a redacted key, passwords, and a share
    token are set, replaced and used; none of them is anywhere in the db file, its WAL, or the
    log's text (the secret is stored sealed; the log keeps settings, names and dates only)."""
    ok(db, "group", "add", "web:demo", "demo")
    for value in (SECRET, SECRET + "-2"):
        ok(db, "secret", "set", "anthropic", "--upstream", "https://api.anthropic.com", stdin=value)
    ok(db, "secret", "set", "tg-token", "--expose", "adapter", stdin=SECRET + "-3")
    ok(db, "user", "add", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    ok(db, "user", "passwd", "bob", "--password-stdin", stdin=PASSWORD + "-new\n")
    shared = ok(db, "group", "share", "demo")
    token = shared.splitlines()[0].rsplit("/", 1)[-1]
    assert len(token) > 30, shared
    ok(db, "group", "share", "demo", "--rotate")
    assert run(db, "secret", "set", "leak", SECRET).exit_code != 0
    logged = json.dumps([e.as_json() for e in entries(db)])
    stored = b"".join(p.read_bytes() for p in db.parent.glob("messages.db*"))
    for needle in (SECRET, "sk-canary-7f3e9a1b", PASSWORD, token):
        assert needle not in logged, needle
        assert needle.encode() not in stored, needle
    assert [e.action for e in entries(db)].count("secret.set") == 3


def test_the_actors_remote_says_host_tty_and_ssh_client() -> None:
    env = {"SSH_CONNECTION": "10.1.2.3 50000 10.0.0.1 22"}
    assert remote_of("box", "/dev/pts/4", env) == "host=box tty=/dev/pts/4 ssh=10.1.2.3"
    assert remote_of("box", "none", {}) == "host=box tty=none"


@pytest.fixture
def logged(db: Path) -> Path:
    """Six entries: four from the CLI, two written as a dashboard user, one of them old."""
    ok(db, "group", "add", "web:demo", "demo")
    ok(db, "group", "config", "demo", "--set", "timeout_s=30")
    ok(db, "route", "add", "web:demo", "default", "demo")
    ok(db, "group", "add", "web:other", "other")
    conn = store.connect(db)
    with store.tx(conn):
        carol = audit.Actor("carol", "dashboard", "192.0.2.7")
        audit.record(conn, carol, "route.remove", "web:demo", before={"id": 1})
        audit.record(conn, carol, "user.add", "dave", after={"username": "dave"})
        conn.execute("UPDATE audit_log SET at = '2026-01-05T10:00:00.000Z' WHERE id = 1")
    conn.close()
    return db


@pytest.mark.parametrize(
    ("filters", "ids"),
    [
        ([], [6, 5, 4, 3, 2, 1]),
        (["--actor", "carol"], [6, 5]),
        (["--origin", "cli"], [4, 3, 2, 1]),
        (["--action", "group.add"], [4, 1]),
        (["--target", "web:demo"], [5, 3, 1]),
        (["--since", "2026-02-01"], [6, 5, 4, 3, 2]),
        (["--actor", "carol", "--action", "user.add"], [6]),
        (["--limit", "2"], [6, 5]),
        (["--limit", "2", "--before", "5"], [4, 3]),
        (["--actor", "nobody"], []),
    ],
)
def test_audit_filters(logged: Path, filters: list[str], ids: list[int]) -> None:
    lines = ok(logged, "audit", *filters, "--json").splitlines()
    got = [json.loads(line) for line in lines]
    assert [e["id"] for e in got] == ids
    assert all(set(e) == {*AuditEntry.__slots__} for e in got)


def test_audit_table_says_who_what_and_how_it_changed(logged: Path) -> None:
    lines = ok(logged, "audit").splitlines()
    assert lines[0].split() == [
        "id", "time", "(UTC)", "actor", "origin", "from", "action", "target", "change",
    ]  # fmt: skip
    by_id = {line.split()[0]: line for line in lines[2:]}
    assert "carol" in by_id["6"]
    assert "192.0.2.7" in by_id["6"]
    assert 'new: username="dave"' in by_id["6"]
    assert "removed: id=1" in by_id["5"]
    assert "timeout_s: - → 30.0" in by_id["2"]
    assert "2026-01-05 10:00:00" in by_id["1"]
    page = ok(logged, "audit", "--limit", "2").splitlines()
    assert page[-1] == "(older entries: add --before 5)"
    assert (
        ok(logged, "audit", "--actor", "nobody").strip() == "no audit entries matching the filters"
    )


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--since", "last week"], "since: 'last week' is not a date"),
        (["--origin", "ssh"], "origin: 'ssh' is not one of cli, dashboard, chat, tool"),
        (["--action", "group.delete"], "action: 'group.delete' is not an audited action"),
        (["--limit", "0"], "Invalid value for '--limit'"),
        (["--before", "x"], "Invalid value for '--before'"),
    ],
)
def test_bad_audit_input_is_one_line_and_exit_2(
    logged: Path, args: list[str], problem: str
) -> None:
    proc = subprocess.run(
        [CLI, "audit", *args, "--db", str(logged)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("error: ")
    assert problem in proc.stderr


def test_audit_of_a_missing_database_is_an_error(tmp_path: Path) -> None:
    result = run(tmp_path / "none.db", "audit")
    assert result.exit_code != 0
    assert not (tmp_path / "none.db").exists()


def test_up_logs_the_chats_and_the_admin_it_makes_once(tmp_path: Path) -> None:
    from switchboard.commands.up import prepare

    db = tmp_path / "messages.db"
    prepare(db)
    prepare(db)  # the second start makes nothing
    assert [(e.action, e.target) for e in entries(db)] == [
        ("group.add", "web:demo"),
        ("group.add", "cli:operator"),
        ("user.add", "admin"),
    ]
    assert "hash" not in entries(db)[-1].after
