"""`switchboard onboarding list|approve|reject` against a real onbod process and database."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import store
from onbod import api
from onbod.migrations import MIGRATIONS
from testkit import wait_for

CLI = str(Path(sys.executable).parent / "switchboard")


def cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    return subprocess.run(
        [CLI, *args, "--db", str(db)], capture_output=True, text=True, timeout=60, env=env
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    """A database with a running onbod, one pending chat (tg:1, 'blue-sky') and one naming."""
    db = tmp_path / "messages.db"
    conn = store.open(db, {"onbod": MIGRATIONS})
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "onbod.main", "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        for i, (jid, text) in enumerate(
            [("tg:1", "hello there, I need help with my garden"), ("tg:2", "hi")]
        ):
            store.put_message(
                conn, store.NewMessage(id=f"m{i}", chat_jid=jid, content=text, sender=jid)
            )
        wait_for(lambda: len(api.list_onboarding(conn)) == 2, 20, "greetings")
        store.put_message(
            conn, store.NewMessage(id="m9", chat_jid="tg:1", content="blue-sky", sender="tg:1")
        )
        wait_for(lambda: api.pending(conn), 20, "pending")
        yield db, conn
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        conn.close()


def test_list_shows_requests_as_a_table_and_as_json(
    world: tuple[Path, sqlite3.Connection],
) -> None:
    db, _ = world
    table = cli(db, "onboarding", "list")
    assert table.returncode == 0, table.stderr
    assert "tg:1" in table.stdout
    assert "blue-sky" in table.stdout
    assert "hello there, I need help with my garden" in table.stdout
    data = json.loads(cli(db, "onboarding", "list", "--json").stdout)
    assert {(r["jid"], r["status"]) for r in data} == {
        ("tg:1", "pending"),
        ("tg:2", "awaiting_name"),
    }
    only = json.loads(cli(db, "onboarding", "list", "--json", "--status", "pending").stdout)
    assert [r["jid"] for r in only] == ["tg:1"]
    assert only[0]["world_name"] == "blue-sky"
    bad = cli(db, "onboarding", "list", "--status", "maybe")
    assert bad.returncode == 2
    assert "status" in bad.stderr
    assert "maybe" in bad.stderr


def test_approve_registers_the_world_and_a_second_approve_is_refused(
    world: tuple[Path, sqlite3.Connection],
) -> None:
    db, conn = world
    done = cli(db, "onboarding", "approve", "tg:1", "--by", "cli:alice")
    assert done.returncode == 0, done.stderr
    assert "approved tg:1 as world 'blue-sky'" in done.stdout
    group = store.get_group(conn, "tg:1")
    assert group is not None
    assert group.folder == "blue-sky"
    assert store.find_message(conn, "tg:1", "onboard:m0") is not None
    again = cli(db, "onboarding", "approve", "tg:1")
    assert again.returncode == 1
    assert "already approved by cli:alice" in again.stderr
    missing = cli(db, "onboarding", "approve", "tg:404")
    assert missing.returncode == 1
    assert "no onboarding request for tg:404" in missing.stderr
    malformed = cli(db, "onboarding", "approve", "not a jid")
    assert malformed.returncode == 2
    assert "jid" in malformed.stderr


def test_reject_with_a_reason_tells_the_sender(world: tuple[Path, sqlite3.Connection]) -> None:
    db, conn = world
    done = cli(db, "onboarding", "reject", "tg:2", "--reason", "invitation only", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"]
    assert result["onboarding"]["status"] == "rejected"
    assert result["onboarding"]["reason"] == "invitation only"
    last = store.messages_before(conn, "tg:2", None, limit=1)[0]
    assert last.is_from_me
    assert "Reason: invitation only" in last.content
    assert store.get_group(conn, "tg:2") is None
