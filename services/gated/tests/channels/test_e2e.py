"""End to end through a real `gated` process: an adapter posts a message, the echo agent's reply
arrives at the adapter's /send; re-posting the same id produces no second reply."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import store
from gated_channels_support import SECRET
from testkit import StandinAdapter, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def gated(db: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    bindir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "SWITCHBOARD_CHANNEL_SECRET": SECRET,
        "SWITCHBOARD_GROUPS_DIR": str(tmp_path / "groups"),
        "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
    }
    log = (tmp_path / "gated.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gated.main", "--db", str(db), "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, (tmp_path / "gated.log").read_text()
        try:
            return httpx.get(f"{base}/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=30, what="gated's channel API")
        yield base
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
        log.close()


def test_posted_message_gets_one_echo_reply_at_the_adapter(
    gated: str, adapter: StandinAdapter, conn: sqlite3.Connection
) -> None:
    store.register_group(conn, "chatx:room", "demo")
    with httpx.Client(base_url=gated, timeout=10) as http:
        reg = http.post(
            "/v1/channels/register",
            json={"name": "chatx", "url": adapter.url},
            headers={"Authorization": f"Bearer {SECRET}"},
        )
        assert reg.status_code == 200, reg.text
        auth = {"Authorization": f"Bearer {reg.json()['token']}"}
        first = {"chat_jid": "chatx:room", "id": "m1", "content": "hello", "sender": "alice"}
        resp = http.post("/v1/messages", json=first, headers=auth)
        assert resp.status_code == 202
        assert resp.json()["duplicate"] is False
        sends = wait_for(adapter.sends, timeout=20, what="the echo reply at the adapter")
        assert [s["text"] for s in sends] == ["echo: hello"]
        assert sends[0]["chat_jid"] == "chatx:room"

        again = http.post("/v1/messages", json=first, headers=auth)
        assert again.status_code == 202
        assert again.json() == {"seq": resp.json()["seq"], "duplicate": True}
        # A later message is answered after it; by then a second reply to m1 would have shown.
        second = {"chat_jid": "chatx:room", "id": "m2", "content": "bye", "sender": "alice"}
        assert http.post("/v1/messages", json=second, headers=auth).status_code == 202
        wait_for(lambda: len(adapter.sends()) >= 2, timeout=20, what="the second reply")
    assert [s["text"] for s in adapter.sends()] == ["echo: hello", "echo: bye"]


def test_switchboard_chat_gets_the_echo_agents_reply(
    gated: str, db: Path, conn: sqlite3.Connection
) -> None:
    store.register_group(conn, "web:demo", "demo")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "switchboard"), "chat", "demo", "--db", str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write("ping from the terminal\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "echo: ping from the terminal"
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_reference_adapter_chats_with_the_echo_agent(
    gated: str, db: Path, conn: sqlite3.Connection, tmp_path: Path
) -> None:
    store.register_group(conn, "term:tester", "demo")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "switchboard-adapter-example"),
            "--gated",
            gated,
            "--listen",
            "127.0.0.1:0",
            "--user",
            "tester",
            "--state-dir",
            str(tmp_path / "term-state"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SWITCHBOARD_CHANNEL_SECRET": SECRET},
    )
    try:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write("hi from the adapter\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "[term:tester] echo: hi from the adapter"
        msgs = store.messages_since(conn, "term:tester", 0)
        assert [(m.source, m.sender) for m in msgs if not m.is_from_me] == [("term", "tester")]
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_reference_adapter_needs_the_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_CHANNEL_SECRET"}
    out = subprocess.run(
        [str(Path(sys.executable).parent / "switchboard-adapter-example")],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert out.returncode == 2
    assert "SWITCHBOARD_CHANNEL_SECRET" in out.stderr
