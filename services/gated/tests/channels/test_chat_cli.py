"""`switchboard chat FOLDER` as a real process: typed lines become cli:FOLDER messages, replies
are printed as they arrive, Ctrl-D and Ctrl-C exit 0, an unknown folder is a one-line error."""

from __future__ import annotations

import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import store
from testkit import wait_for

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")


class ChatProcess:
    def __init__(self, db: Path, folder: str = "demo") -> None:
        self.proc = subprocess.Popen(
            [SWITCHBOARD, "chat", folder, "--db", str(db), "--user", "tester"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def say(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def next_line(self, timeout: float = 10.0) -> str:
        return self.lines.get(timeout=timeout)


def cli_messages(conn: sqlite3.Connection) -> list[store.Message]:
    return [m for m in store.messages_since(conn, "cli:demo", 0) if not m.is_from_me]


def test_chat_sends_lines_and_prints_replies_then_exits_on_eof(
    db: Path, conn: sqlite3.Connection
) -> None:
    store.register_group(conn, "web:demo", "demo", agent_config={"command": "my-agent"})
    chat = ChatProcess(db)
    try:
        chat.say("hello agent")
        msgs = wait_for(lambda: cli_messages(conn), what="the typed line stored")
        assert [(m.content, m.sender, m.source) for m in msgs] == [("hello agent", "tester", "cli")]
        group = store.get_group(conn, "cli:demo")
        assert group is not None
        assert group.folder == "demo"
        assert store.folder_settings(conn, group.folder).command == "my-agent"
        store.store_outbound(conn, "cli:demo", "echo: hello agent", group_folder="demo")
        assert chat.next_line() == "echo: hello agent"
        store.store_outbound(conn, "web:demo", "not for the terminal", group_folder="demo")
        store.store_outbound(conn, "cli:demo", "second reply", group_folder="demo")
        assert chat.next_line() == "second reply"
        assert chat.proc.stdin is not None
        chat.proc.stdin.close()
        assert chat.proc.wait(timeout=10) == 0
    finally:
        if chat.proc.poll() is None:
            chat.proc.kill()


def test_ctrl_c_exits_zero(db: Path, conn: sqlite3.Connection) -> None:
    store.register_group(conn, "web:demo", "demo")
    chat = ChatProcess(db)
    chat.say("hi")
    wait_for(lambda: cli_messages(conn), what="the typed line stored")
    chat.proc.send_signal(signal.SIGINT)
    assert chat.proc.wait(timeout=10) == 0


def test_unknown_folder_is_a_one_line_error_and_writes_nothing(
    db: Path, conn: sqlite3.Connection
) -> None:
    out = subprocess.run(
        [SWITCHBOARD, "chat", "nobody", "--db", str(db)],
        input="hi\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 2
    assert "folder 'nobody' has no registered chat" in out.stderr
    assert store.latest_seq(conn) == 0
    assert store.get_group(conn, "cli:nobody") is None
