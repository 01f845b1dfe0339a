"""The `switchboard` CLI as a user runs it (a real subprocess on a real file): init, status,
doctor, group, route, send and backup -- each happy path, and bad input that prints ONE line
on stderr, exits non-zero and writes nothing."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import store
from switchboard.schemas import open_all

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")
SERVICES = ["dashd", "gated", "onbod", "store", "timed"]


def workdir(db: Path | None) -> Path:
    """Where the CLI runs: never the checkout, whose ./data would be the default database."""
    here = db.parent if db is not None else Path(tempfile.gettempdir())
    while not here.is_dir():
        here = here.parent
    return here


def cli(*args: str, db: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--db", str(db)] if db is not None else []
    return subprocess.run(
        [SWITCHBOARD, *args, *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=workdir(db),
    )


def cli_many(
    calls: list[tuple[str, ...]], db: Path | None
) -> list[subprocess.CompletedProcess[str]]:
    """Run several independent invocations at once (the CLI's start-up dominates)."""
    extra = ["--db", str(db)] if db is not None else []
    procs = [
        subprocess.Popen(
            [SWITCHBOARD, *args, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=workdir(db),
        )
        for args in calls
    ]
    done = []
    for args, p in zip(calls, procs, strict=True):
        out, err = p.communicate(timeout=60)
        done.append(subprocess.CompletedProcess([*args], p.returncode, out, err))
    return done


def dump(db: Path) -> list[str]:
    """Everything in the database, as SQL text (schema and rows)."""
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode != 0, proc
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database with every service's schema (what `init` makes; `init` itself is tested
    below -- done in-process here to keep the suite fast)."""
    path = tmp_path / "messages.db"
    conn = open_all(path)
    conn.close()
    return path


@pytest.fixture
def conn(db: Path) -> Iterator[sqlite3.Connection]:
    c = store.connect(db)
    yield c
    c.close()


def test_init_creates_every_schema_once(tmp_path: Path) -> None:
    path = tmp_path / "new" / "messages.db"
    first = cli("init", db=path)
    assert first.returncode == 0, first.stderr
    assert f"database ready: {path}" in first.stdout
    again = cli("init", db=path)
    assert again.returncode == 0, again.stderr
    c = sqlite3.connect(path)
    rows = c.execute("SELECT service, version FROM migrations").fetchall()
    c.close()
    assert sorted({s for s, _ in rows}) == SERVICES
    assert len(rows) == len(set(rows))  # the second init applied nothing twice
    for service in SERVICES:
        assert f"{service}: schema version" in first.stdout


def test_init_refuses_a_database_from_newer_code(db: Path) -> None:
    c = sqlite3.connect(db)
    c.execute(f"PRAGMA user_version = {store.schema_version() + 5}")
    c.close()
    before = db.read_bytes()
    assert_one_line_error(cli("init", db=db), "newer than this code")
    assert db.read_bytes() == before


def test_init_where_no_directory_can_be_made_fails_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert_one_line_error(cli("init", db=blocker / "messages.db"))


def test_status_text_and_json(db: Path, conn: sqlite3.Connection) -> None:
    store.register_group(conn, "web:demo", "demo")
    store.store_outbound(conn, "web:demo", "hello")
    store.heartbeat(conn, "gated", version="9.9")
    text, as_json = cli_many([("status",), ("status", "--json")], db)
    assert text.returncode == 0, text.stderr
    assert "(1 messages, 1 registered chats)" in text.stdout
    assert "gated" in text.stdout
    assert "up" in text.stdout
    assert "outbox: 1 pending" in text.stdout
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["messages"] == 1
    assert data["groups"] == 1
    assert data["outbox"]["pending"] == 1
    assert [(d["name"], d["state"], d["version"]) for d in data["daemons"]] == [
        ("gated", "up", "9.9")
    ]


def test_status_of_a_file_that_is_not_a_database_fails_with_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    assert_one_line_error(cli("status", db=junk), "not a database")


def test_doctor_passes_on_a_fresh_database(db: Path) -> None:
    text, as_json = cli_many([("doctor",), ("doctor", "--json")], db)
    assert text.returncode == 0, text.stderr
    assert "doctor: all checks passed" in text.stdout
    assert "integrity_check" in text.stdout
    data = json.loads(as_json.stdout)
    assert data["ok"] is True
    assert data["checks"]["journal_mode"] == "wal"


def test_doctor_reports_a_stale_heartbeat(db: Path, conn: sqlite3.Connection) -> None:
    store.heartbeat(conn, "timed")
    with store.tx(conn):
        conn.execute("UPDATE daemons SET heartbeat_at = '2020-01-01T00:00:00.000Z'")
    proc = cli("doctor", db=db)
    assert proc.returncode == 1
    assert "PROBLEM: daemon timed heartbeat is stale" in proc.stdout


def test_doctor_without_a_database_fails_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    assert_one_line_error(cli("doctor", db=missing), "no database", "switchboard init")
    assert not missing.exists()


def test_group_add_list_rm(db: Path) -> None:
    add = cli(
        "group", "add", "web:demo", "demo", "--name", "Demo", "--trigger", "@bot",
        "--requires-trigger", "--agent", "my-agent", db=db,
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    assert add.stdout.strip() == "registered web:demo -> demo"
    text, as_json = cli_many([("group", "list"), ("group", "list", "--json")], db)
    assert "web:demo" in text.stdout
    assert "@bot (required)" in text.stdout
    assert "my-agent" in text.stdout
    [g] = json.loads(as_json.stdout)
    assert (g["jid"], g["folder"], g["name"], g["requires_trigger"]) == (
        "web:demo", "demo", "Demo", True,
    )  # fmt: skip
    assert g["command"] == "my-agent"
    rm = cli("group", "rm", "web:demo", db=db)
    assert rm.returncode == 0, rm.stderr
    assert json.loads(cli("group", "list", "--json", db=db).stdout) == []


def test_group_bad_input_is_one_line_and_writes_nothing(db: Path, conn: sqlite3.Connection) -> None:
    store.register_group(conn, "web:taken", "taken")
    before = dump(db)
    results = cli_many(
        [
            ("group", "add", "not a jid", "demo"),
            ("group", "add", "web:demo", "../etc"),
            ("group", "add", "web:demo", "demo", "--requires-trigger"),
            ("group", "add", "web:taken", "other"),
            ("group", "add", "web:demo"),
            ("group", "rm", "web:nobody"),
        ],
        db,
    )
    expected = [
        ("jid", "malformed jid"),
        ("folder", "'../etc'"),
        ("trigger_word",),
        ("web:taken is already registered",),
        ("Missing argument", "folder"),
        ("no registered group", "web:nobody"),
    ]
    for proc, words in zip(results, expected, strict=True):
        assert_one_line_error(proc, *words)
    assert dump(db) == before


def test_bad_input_on_a_missing_database_creates_no_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    results = cli_many(
        [
            ("group", "add", "bad", "demo"),
            ("group", "rm", "web:x"),
            ("route", "add", "web:x", "regex", "demo"),
            ("route", "rm", "3"),
            ("send", "web:x", " "),
        ],
        missing,
    )
    for proc in results:
        assert_one_line_error(proc)
    assert not missing.exists()


def test_route_add_list_rm(db: Path) -> None:
    a, b = cli_many(
        [
            ("route", "add", "web:demo", "keyword", "helpdesk", "--match", "help"),
            ("route", "add", "web:other", "default", "other"),
        ],
        db,
    )
    assert a.returncode == 0, a.stderr
    assert "web:demo #10 keyword 'help' -> helpdesk" in a.stdout
    assert b.returncode == 0, b.stderr
    c = cli(
        "route", "add", "web:demo", "pattern", "billing", "--match", r"^bill\w*", "--seq", "5",
        db=db,
    )  # fmt: skip
    assert c.returncode == 0, c.stderr
    all_routes, one_chat, text = cli_many(
        [("route", "list", "--json"), ("route", "list", "web:demo", "--json"), ("route", "list")],
        db,
    )
    assert [(r["jid"], r["seq"]) for r in json.loads(all_routes.stdout)] == [
        ("web:demo", 5), ("web:demo", 10), ("web:other", 10),
    ]  # fmt: skip
    routes = json.loads(one_chat.stdout)
    assert [(r["type"], r["match"], r["target"]) for r in routes] == [
        ("pattern", r"^bill\w*", "billing"),
        ("keyword", "help", "helpdesk"),
    ]
    assert "helpdesk" in text.stdout
    assert "billing" in text.stdout
    rm = cli("route", "rm", str(routes[0]["id"]), db=db)
    assert rm.returncode == 0, rm.stderr
    assert len(json.loads(cli("route", "list", "web:demo", "--json", db=db).stdout)) == 1


def test_route_bad_input_is_one_line_and_writes_nothing(db: Path) -> None:
    before = dump(db)
    results = cli_many(
        [
            ("route", "add", "web:demo", "regex", "demo", "--match", "x"),
            ("route", "add", "web:demo", "pattern", "demo", "--match", "(["),
            ("route", "add", "web:demo", "keyword", "demo"),
            ("route", "add", "web:demo", "keyword", "a/b", "--match", "x"),
            ("route", "add", "nojid", "default", "demo"),
            ("route", "rm", "999"),
            ("route", "rm", "abc"),
        ],
        db,
    )
    expected = [
        ("type", "unknown route type 'regex'"),
        ("match", "bad regular expression"),
        ("match", "needs a match value"),
        ("target",),
        ("jid",),
        ("no route with id 999",),
        ("route_id", "integer"),
    ]
    for proc, words in zip(results, expected, strict=True):
        assert_one_line_error(proc, *words)
    assert dump(db) == before


def test_send_queues_an_outbound_message(db: Path, conn: sqlite3.Connection) -> None:
    store.register_group(conn, "web:demo", "demo")
    proc = cli("send", "web:demo", "hello from the operator", db=db)
    assert proc.returncode == 0, proc.stderr
    seq = int(proc.stdout.split()[2])
    assert proc.stdout.strip() == f"queued seq {seq} to web:demo"
    msg = store.get_message(conn, seq)
    assert msg is not None
    assert (msg.content, msg.is_from_me, msg.source, msg.group_folder) == (
        "hello from the operator", True, "cli", "demo",
    )  # fmt: skip
    item = store.outbox_status(conn, seq)
    assert item is not None
    assert item.status == "pending"


def test_send_bad_input_is_one_line_and_writes_nothing(db: Path) -> None:
    before = dump(db)
    results = cli_many(
        [("send", "web demo", "hi"), ("send", "web:demo", "  "), ("send", "web:demo")], db
    )
    expected = [("chat_jid",), ("text", "must not be empty"), ("Missing argument", "text")]
    for proc, words in zip(results, expected, strict=True):
        assert_one_line_error(proc, *words)
    assert dump(db) == before


def test_db_comes_from_the_environment_too(db: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [SWITCHBOARD, "group", "add", "web:env", "env"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SWITCHBOARD_DB": str(db)},
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "web:env" in cli("group", "list", db=db).stdout


def test_backup_writes_a_checked_copy(db: Path, conn: sqlite3.Connection, tmp_path: Path) -> None:
    store.put_message(conn, store.NewMessage(id="1", chat_jid="web:demo", content="keep"))
    target = tmp_path / "copy.db"
    proc = cli("backup", str(target), db=db)
    assert proc.returncode == 0, proc.stderr
    assert f"backup written: {target} (1 messages" in proc.stdout
    copy = sqlite3.connect(target)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT content FROM messages").fetchall() == [("keep",)]
    copy.close()
    assert not target.with_name("copy.db.partial").exists()
    forced = cli("backup", str(target), "--force", db=db)
    assert forced.returncode == 0, forced.stderr


def test_backup_bad_input_is_one_line_and_writes_nothing(db: Path, tmp_path: Path) -> None:
    existing = tmp_path / "exists.db"
    existing.write_text("precious")
    results = cli_many(
        [
            ("backup", str(existing)),
            ("backup", str(db)),
            ("backup", str(tmp_path / "no" / "such" / "dir.db")),
        ],
        db,
    )
    expected = [("exists", "--force"), ("the database itself",), ("does not exist",)]
    for proc, words in zip(results, expected, strict=True):
        assert_one_line_error(proc, *words)
    assert existing.read_text() == "precious"
    missing = cli("backup", str(tmp_path / "out.db"), db=tmp_path / "missing.db")
    assert_one_line_error(missing, "no database")
    assert not (tmp_path / "out.db").exists()
    assert not (tmp_path / "missing.db").exists()


WRITER = """
import sys, store
conn = store.open(sys.argv[1])
for batch in range(20_000):
    store.put_messages(conn, [
        store.NewMessage(id=f"{batch}-{i}", chat_jid="web:load", content=f"row {i}")
        for i in range(10)
    ])
    if batch == 20:
        print("writing", flush=True)
"""


def test_backup_while_a_writer_writes_is_a_consistent_prefix(db: Path, tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "writing"
        target = tmp_path / "hot.db"
        proc = cli("backup", str(target), db=db)
        still_writing = writer.poll() is None
    finally:
        writer.kill()
        writer.wait()
    assert proc.returncode == 0, proc.stderr
    assert still_writing, "the writer finished before the backup; the test proved nothing"
    copy = sqlite3.connect(target)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = copy.execute("SELECT seq, id FROM messages ORDER BY seq").fetchall()
    copy.close()
    # Whole transactions only (10 rows each), and exactly the first N of them.
    assert len(rows) >= 210
    assert len(rows) % 10 == 0
    assert [s for s, _ in rows] == list(range(1, len(rows) + 1))
    assert [i for _, i in rows] == [f"{b}-{i}" for b in range(len(rows) // 10) for i in range(10)]
