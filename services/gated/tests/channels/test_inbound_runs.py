"""Protocol 1.1 messages through a real `gated` process to a recording agent: a mention
triggers, a bot's echo and edits/deletes never run (nor are context), a thread is a session
topic, a web chat's `#topic ` opens one, and uploaded files wait in the group's inbox/ — with
names made safe, and without following what a hostile agent planted there."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import store
from gated.migrations import MIGRATIONS
from gated_channels_support import SECRET
from testkit import wait_for

AGENT = Path(__file__).with_name("agents") / "record_inbox.py"
RUN_S = 30.0


@dataclass
class Gated:
    base: str
    token: str
    db: Path
    groups: Path
    http: httpx.Client

    def conn(self) -> sqlite3.Connection:
        return store.connect(self.db)

    def post(self, **body: Any) -> int:
        resp = self.http.post(
            "/v1/messages", json=body, headers={"Authorization": f"Bearer {self.token}"}
        )
        assert resp.status_code == 202, resp.text
        return int(resp.json()["seq"])

    def upload(self, data: bytes, name: str) -> dict[str, Any]:
        resp = self.http.post(
            "/v1/files",
            content=data,
            headers={"Authorization": f"Bearer {self.token}", "X-Filename": name},
        )
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def inputs(self, folder: str) -> list[dict[str, Any]]:
        path = self.groups / folder / "inputs.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def wait_inputs(self, folder: str, n: int) -> list[dict[str, Any]]:
        wait_for(lambda: len(self.inputs(folder)) >= n, RUN_S, f"run {n} of {folder}")
        return self.inputs(folder)

    def wait_scanned(self, seq: int) -> None:
        def scanned() -> bool:
            with self.conn() as c:
                return int(store.get_state(c, store.bus.GATEWAY_CURSOR) or 0) >= seq

        wait_for(scanned, RUN_S, f"gated to scan seq {seq}")

    def runs(self, folder: str) -> int:
        c = self.conn()
        try:
            row = c.execute(
                "SELECT COUNT(*) FROM session_log WHERE group_folder = ?", (folder,)
            ).fetchone()
            return int(row[0])
        finally:
            c.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gated]:
    """One gated for the module (each test its own chats and folders), agents unconfined (the
    test agent lives in the source tree) and recording their input."""
    tmp = tmp_path_factory.mktemp("inbound")
    db = tmp / "messages.db"
    conn = store.open(db)
    store.migrate_service(conn, "gated", MIGRATIONS)
    conn.close()
    port = free_port()
    env = {
        **os.environ,
        "SWITCHBOARD_CHANNEL_SECRET": SECRET,
        "SWITCHBOARD_GROUPS_DIR": str(tmp / "groups"),
        "SWITCHBOARD_SANDBOX": "none",
    }
    log = (tmp / "gated.log").open("w")
    argv = [sys.executable, "-m", "gated.main", "--db", str(db), "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [*argv, "--default-agent", f"{sys.executable} {AGENT}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, (tmp / "gated.log").read_text()
        try:
            return httpx.get(f"{base}/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=30, what="gated's channel API")
        with httpx.Client(base_url=base, timeout=10) as http:
            reg = http.post(
                "/v1/channels/register",
                json={"name": "chatx", "url": "http://127.0.0.1:9/"},
                headers={"Authorization": f"Bearer {SECRET}"},
            )
            assert reg.status_code == 200, reg.text
            yield Gated(base, reg.json()["token"], db, tmp / "groups", http)
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
        log.close()


def register(g: Gated, jid: str, folder: str, **kw: Any) -> None:
    c = g.conn()
    try:
        store.register_group(c, jid, folder, **kw)
    finally:
        c.close()


def contents(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"]]


def test_a_mention_triggers_a_group_that_requires_a_trigger(gated: Gated) -> None:
    register(gated, "chatx:trig", "trig", trigger_word="@sb", requires_trigger=True)
    plain = gated.post(chat_jid="chatx:trig", id="p1", content="just chatting")
    gated.wait_scanned(plain)  # had it triggered, its run would start in this same step
    gated.post(chat_jid="chatx:trig", id="p2", content="what do you think?", mentions_bot=True)
    [request] = gated.wait_inputs("trig", 1)
    assert contents(request) == ["just chatting", "what do you think?"]  # the first: context
    assert gated.runs("trig") == 1


def test_the_bots_own_echo_never_runs_even_marked_as_a_mention(gated: Gated) -> None:
    register(gated, "chatx:loop", "loop", trigger_word="@sb", requires_trigger=True)
    gated.post(
        chat_jid="chatx:loop", id="b1", content="echo: @sb hi", from_bot=True, mentions_bot=True
    )
    gated.post(chat_jid="chatx:loop", id="b2", content="@sb hi again", from_bot=True)
    gated.post(chat_jid="chatx:loop", id="h1", content="@sb a person speaks")
    [request] = gated.wait_inputs("loop", 1)
    assert contents(request) == ["@sb a person speaks"]  # the echoes are not even context
    assert gated.runs("loop") == 1


def test_edits_and_deletes_are_recorded_and_never_run(gated: Gated) -> None:
    register(gated, "chatx:edits", "edits")
    gated.post(chat_jid="chatx:edits", id="e1", content="hello", verb="message")
    [first] = gated.wait_inputs("edits", 1)
    gated.post(chat_jid="chatx:edits", id="e1:v2", content="hello!", verb="edit", target_id="e1")
    gated.post(chat_jid="chatx:edits", id="e1:del", verb="delete", target_id="e1")
    gated.post(chat_jid="chatx:edits", id="e2", content="next")
    second = gated.wait_inputs("edits", 2)[1]
    assert (contents(first), contents(second)) == (["hello"], ["next"])
    assert gated.runs("edits") == 2
    c = gated.conn()
    try:
        rows = c.execute(
            "SELECT id, verb, target_id, content FROM messages WHERE chat_jid = 'chatx:edits' "
            "AND verb != 'message' ORDER BY seq"
        ).fetchall()
    finally:
        c.close()
    assert [tuple(r) for r in rows] == [
        ("e1:v2", "edit", "e1", "hello!"),
        ("e1:del", "delete", "e1", "(deleted)"),
    ]


def test_a_thread_is_a_session_topic_its_next_message_joins(gated: Gated) -> None:
    register(gated, "chatx:thr", "thr")
    gated.post(chat_jid="chatx:thr", id="t1", content="in the thread", thread_id="777")
    [first] = gated.wait_inputs("thr", 1)
    gated.post(chat_jid="chatx:thr", id="t2", content="still in it", thread_id="777")
    second = gated.wait_inputs("thr", 2)[1]
    assert (first["topic"], second["topic"]) == ("thread:777", "thread:777")

    def reply_topics() -> list[str]:
        with gated.conn() as c:
            rows = c.execute(
                "SELECT topic FROM messages WHERE chat_jid = 'chatx:thr' AND is_from_me = 1"
            ).fetchall()
        return [r[0] for r in rows]

    # The agent has its input before its reply is stored: wait for the second reply.
    wait_for(lambda: len(reply_topics()) >= 2, RUN_S, "both replies")
    assert reply_topics() == ["thread:777", "thread:777"]  # answered in the thread


def test_a_web_chats_topic_prefix_opens_that_topic(gated: Gated) -> None:
    register(gated, "web:webt", "webt")
    c = gated.conn()
    try:
        store.put_message(
            c, store.NewMessage(id="w1", chat_jid="web:webt", content="#research what is new?")
        )
    finally:
        c.close()
    [first] = gated.wait_inputs("webt", 1)
    assert first["topic"] == "research"
    assert contents(first) == ["#research what is new?"]  # the prefix stays
    c = gated.conn()
    try:
        store.put_message(c, store.NewMessage(id="w2", chat_jid="web:webt", content="#no!pe x"))
    finally:
        c.close()
    second = gated.wait_inputs("webt", 2)[1]
    assert second["topic"] == ""


def test_an_adapters_hash_prefix_is_just_text(gated: Gated) -> None:
    register(gated, "chatx:hash", "hash")
    gated.post(chat_jid="chatx:hash", id="x1", content="#research is not a topic here")
    [request] = gated.wait_inputs("hash", 1)
    assert request["topic"] == ""


HOSTILE_NAMES = {
    "../../etc/passwd": "passwd",
    "..\\..\\autoexec.bat": "autoexec.bat",
    ".bashrc": "bashrc",
    "zero\u200bwidth ünï.txt": "zero_width__n_.txt",
}


def test_the_agent_finds_each_uploaded_file_in_its_inbox(gated: Gated, tmp_path: Path) -> None:
    register(gated, "chatx:files", "files")
    # The agent of a previous run made inbox/ a symlink out of its folder.
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = gated.groups / "files"
    folder.mkdir(parents=True)
    (folder / "inbox").symlink_to(outside)
    attachments = []
    for i, name in enumerate(HOSTILE_NAMES):
        data = f"file {i}: {name}".encode()
        up = gated.upload(data, "upload.bin")  # the name that counts is the message's
        attachments.append({"sha256": up["sha256"], "name": name, "type": "text/plain",
                            "size": up["size"]})  # fmt: skip
    gated.post(chat_jid="chatx:files", id="f1", content="see attached", attachments=attachments)
    [request] = gated.wait_inputs("files", 1)
    [msg] = request["messages"]
    seen = msg["attachments"]
    assert [a["name"] for a in seen] == list(HOSTILE_NAMES)
    for a, sent, safe in zip(seen, attachments, HOSTILE_NAMES.values(), strict=True):
        assert a["path"] == f"inbox/{sent['sha256'][:12]}-{safe}"
        assert a["found_sha256"] == a["sha256"] == sent["sha256"]  # there, with its bytes
        assert (a["type"], a["size"]) == ("text/plain", sent["size"])
    assert not (folder / "inbox").is_symlink()
    assert list(outside.iterdir()) == []  # nothing was written through the planted link
    assert sorted(p.name for p in (folder / "inbox").iterdir()) == sorted(
        a["path"].removeprefix("inbox/") for a in seen
    )


def test_a_planted_symlink_at_a_files_name_is_replaced_not_followed(
    gated: Gated, tmp_path: Path
) -> None:
    register(gated, "chatx:plant", "plant")
    data = b"the real upload"
    sha = hashlib.sha256(data).hexdigest()
    victim = tmp_path / "victim.txt"
    victim.write_text("do not overwrite")
    inbox = gated.groups / "plant" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / f"{sha[:12]}-notes.txt").symlink_to(victim)
    up = gated.upload(data, "notes.txt")
    entry = {"sha256": sha, "name": "notes.txt", "type": "text/plain", "size": up["size"]}
    gated.post(chat_jid="chatx:plant", id="n1", content="notes", attachments=[entry])
    [request] = gated.wait_inputs("plant", 1)
    [seen] = request["messages"][0]["attachments"]
    assert seen["found_sha256"] == sha
    assert victim.read_text() == "do not overwrite"
    assert not (inbox / f"{sha[:12]}-notes.txt").is_symlink()


def test_a_file_removed_from_the_store_is_named_without_a_path(gated: Gated) -> None:
    register(gated, "chatx:gone", "gone")
    up = gated.upload(b"soon gone", "gone.txt")
    (gated.db.parent / "files" / up["sha256"][:2] / up["sha256"]).unlink()
    # As stored when the file was still there (an operator removed it before the run).
    entry = {"name": "gone.txt", "type": "text/plain", "size": up["size"], "file": up["sha256"]}
    c = gated.conn()
    try:
        store.put_message(
            c,
            store.NewMessage(id="g1", chat_jid="chatx:gone", content="lost", attachments=[entry]),
        )
    finally:
        c.close()
    [request] = gated.wait_inputs("gone", 1)
    [seen] = request["messages"][0]["attachments"]
    assert "path" not in seen  # the run still happens; the agent learns the file is missing
    assert (seen["name"], seen["sha256"]) == ("gone.txt", up["sha256"])
