"""End to end with the real gated and the built-in echo agent: a scheduled prompt is answered
in its chat, once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import store
from timed import api
from timed_harness import StartTimed, wait_for


@pytest.fixture
def gated(db_path: Path, conn: sqlite3.Connection, tmp_path: Path) -> Iterator[None]:
    log = (tmp_path / "gated.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gated.main", "--db", str(db_path), "--listen", "127.0.0.1:0"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "SWITCHBOARD_CHANNEL_SECRET": "timed-e2e-secret"},
    )
    wait_for(
        lambda: (
            proc.poll() is not None
            or conn.execute(
                "SELECT 1 FROM daemons WHERE name = 'gated' AND pid = ?", (proc.pid,)
            ).fetchone()
        ),
        timeout=30,
    )
    assert proc.poll() is None, (tmp_path / "gated.log").read_text()
    yield
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def replies(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT content FROM messages WHERE chat_jid = 'web:demo' AND is_from_me = 1 ORDER BY seq"
    ).fetchall()
    return [r[0] for r in rows]


def test_scheduled_prompt_gets_an_echo_reply_in_its_chat(
    conn: sqlite3.Connection, start_timed: StartTimed, gated: None
) -> None:
    start_timed()
    task = api.add_task(
        conn,
        chat_jid="web:demo",
        prompt="water the plants",
        at=store.utcnow() + timedelta(seconds=1.5),
    )
    wait_for(lambda: "echo: water the plants" in replies(conn), timeout=30)
    [run] = api.runs(conn, task.id)
    assert run.status == "fired"
    done = api.get_task(conn, task.id)
    assert done is not None
    assert done.status == "completed"
    assert replies(conn) == ["echo: water the plants"]
