"""Helpers of the gateway loop tests: start/stop a real gated process on a temp db, test agents,
and reads of outcomes from the messages / session_log tables."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import store
from store import NewMessage
from testkit import waiter

AGENTS = Path(__file__).parent / "agents"
T = TypeVar("T")


def agent_command(name: str) -> str:
    """A folder's `command` setting running one of the test agents with this interpreter."""
    return f"{sys.executable} {AGENTS / name}"


wait_for = waiter(15.0)


@dataclass
class Gated:
    """A running gated process and its database."""

    db: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def conn(self) -> sqlite3.Connection:
        return store.connect(self.db)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_gated(db: Path, *args: str, env: dict[str, str] | None = None) -> Gated:
    """Start `python -m gated.main` on db and wait for its heartbeat row with its pid."""
    log = db.parent / f"gated-{time.monotonic_ns()}.log"
    # The loop's test agents live in the source tree, which a sandboxed agent cannot see: these
    # tests run agents unconfined; services/gated/tests/sandbox/ tests the confined runs.
    full_env = {
        **os.environ,
        "SWITCHBOARD_CHANNEL_SECRET": "loop-test-secret",
        "SWITCHBOARD_SANDBOX": "none",
        **(env or {}),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gated.main",
                "--db",
                str(db),
                "--listen",
                "127.0.0.1:0",
                "--log-level",
                "DEBUG",
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    gated = Gated(db, proc, log)
    conn = store.connect(db)

    def ready() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"gated exited with {proc.returncode}:\n{gated.log_text()}")
        try:
            row = conn.execute("SELECT pid FROM daemons WHERE name = 'gated'").fetchone()
        except sqlite3.OperationalError:
            return False
        return row is not None and row[0] == proc.pid

    try:
        wait_for(ready, 30.0, "gated heartbeat")
    finally:
        conn.close()
    return gated


def stop_gated(gated: Gated, timeout: float = 20.0) -> int:
    if gated.proc.poll() is None:
        gated.proc.send_signal(signal.SIGTERM)
    try:
        return gated.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        gated.proc.kill()
        gated.proc.wait()
        pytest.fail(f"gated did not stop on SIGTERM:\n{gated.log_text()}")


_counter = iter(range(1, 1_000_000))


def put(conn: sqlite3.Connection, jid: str, content: str, **kw: Any) -> int:
    """Store an inbound message as a channel would; returns its seq."""
    msg_id = kw.pop("id", f"in-{next(_counter)}")
    sender = kw.pop("sender", "alice")
    return store.put_message(
        conn, NewMessage(id=msg_id, chat_jid=jid, content=content, sender=sender, **kw)
    ).seq


def replies(conn: sqlite3.Connection, jid: str) -> list[sqlite3.Row]:
    """Our outbound messages in a chat, in seq order."""
    return conn.execute(
        "SELECT * FROM messages WHERE chat_jid = ? AND is_from_me = 1 ORDER BY seq", (jid,)
    ).fetchall()


def reply_texts(conn: sqlite3.Connection, jid: str) -> list[str]:
    return [r["content"] for r in replies(conn, jid)]


def runs(conn: sqlite3.Connection, folder: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM session_log WHERE group_folder = ? ORDER BY id", (folder,)
    ).fetchall()


def group_dir(db: Path, folder: str) -> Path:
    path = db.parent / "groups" / folder
    path.mkdir(parents=True, exist_ok=True)
    return path


def tool_group(conn: sqlite3.Connection, jid: str, folder: str) -> None:
    store.register_group(conn, jid, folder, agent_config={"command": agent_command("tools.py")})


def ask(conn: sqlite3.Connection, jid: str, *calls: tuple[str, dict[str, Any]]) -> list[Any]:
    """Post one message with these calls; the agent's report: [{"rc", "out"}, ...]."""
    before = len(reports(conn, jid))
    put(conn, jid, json.dumps({"calls": [list(c) for c in calls]}))
    wait_for(lambda: len(reports(conn, jid)) > before, 30, f"the tool agent's report in {jid}")
    return reports(conn, jid)[before]


def reports(conn: sqlite3.Connection, jid: str) -> list[Any]:
    out = []
    for text in reply_texts(conn, jid):
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, list):
            out.append(value)
    return out
