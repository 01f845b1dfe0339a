"""Helpers for onbod's tests: real onbod processes, polling with a deadline, reading replies."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import store
from testkit import waiter

DEADLINE_S = 20.0


wait_for = waiter(DEADLINE_S)


class Onbod:
    """A real onbod process on a test database."""

    def __init__(self, db: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.db = db
        self.args = args
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = db.parent / "onbod.log"

    def start(self) -> Onbod:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        environ.update(self.env)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "onbod.main", "--db", str(self.db), *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environ,
            )
        conn = store.connect(self.db)
        pid = self.proc.pid
        try:
            wait_for(
                lambda: (
                    self.proc is not None
                    and (self.proc.poll() is not None or self._alive(conn, pid))
                ),
                what="onbod heartbeat",
            )
        finally:
            conn.close()
        assert self.proc.poll() is None, self.log.read_text()
        return self

    @staticmethod
    def _alive(conn: sqlite3.Connection, pid: int) -> bool:
        row = conn.execute(
            "SELECT 1 FROM daemons WHERE name = 'onbod' AND pid = ? AND stopped_at IS NULL", (pid,)
        ).fetchone()
        return row is not None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=15) == 0, self.log.read_text()
        self.proc = None


def say(conn: sqlite3.Connection, jid: str, text: str, msg_id: str | None = None) -> int:
    """A stranger's message arrives (as a channel adapter would store it)."""
    n = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    return store.put_message(
        conn,
        store.NewMessage(
            id=msg_id or f"in-{n + 1}", chat_jid=jid, content=text, sender=jid, source="tg"
        ),
    ).seq


def replies(conn: sqlite3.Connection, jid: str) -> list[str]:
    """What onbod said to a chat, oldest first."""
    rows = conn.execute(
        "SELECT content FROM messages WHERE chat_jid = ? AND is_from_me = 1 ORDER BY seq", (jid,)
    ).fetchall()
    return [r[0] for r in rows]


def settled(conn: sqlite3.Connection) -> bool:
    """onbod's cursor has reached the newest message (so everything was considered)."""
    latest = store.latest_seq(conn)
    cursor = int(store.get_state(conn, "onbod:cursor", "0") or "0")
    return cursor >= latest


def wait_settled(conn: sqlite3.Connection) -> None:
    wait_for(lambda: settled(conn), what="onbod to pass every message")


def add_operator(conn: sqlite3.Connection, jid: str = "tg:ops", folder: str = "ops") -> None:
    store.register_group(conn, jid, folder, name="operators", is_operator=True)


def handoff_count(conn: sqlite3.Connection) -> int:
    """How many requests onbod re-posted for gated (inbound messages with source 'onbod')."""
    sql = "SELECT COUNT(*) FROM messages WHERE source = 'onbod' AND is_from_me = 0"
    return int(conn.execute(sql).fetchone()[0])


class Gated:
    """A real gated process (the gateway that runs agents) on the same test database."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.log = db.parent / "gated.log"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        environ["SWITCHBOARD_CHANNEL_SECRET"] = "onbod-test-secret"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gated.main", "--db", str(db), "--listen", "127.0.0.1:0"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environ,
            )
        conn = store.connect(db)
        try:
            wait_for(lambda: self.proc.poll() is not None or self._alive(conn), what="gated")
        finally:
            conn.close()
        assert self.proc.poll() is None, self.log.read_text()

    def _alive(self, conn: sqlite3.Connection) -> bool:
        row = conn.execute(
            "SELECT 1 FROM daemons WHERE name = 'gated' AND pid = ? AND stopped_at IS NULL",
            (self.proc.pid,),
        ).fetchone()
        return row is not None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def agent_answers(conn: sqlite3.Connection, jid: str) -> list[str]:
    """What an agent (through gated) said in a chat, oldest first."""
    rows = conn.execute(
        "SELECT content FROM messages WHERE chat_jid = ? AND is_from_me = 1 AND source = 'agent' "
        "ORDER BY seq",
        (jid,),
    ).fetchall()
    return [r[0] for r in rows]
