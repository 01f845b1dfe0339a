"""The delivery worker against a real stand-in adapter process: delivered once, retried with
back-off while the adapter fails or is down, dead after the last attempt (and visible in
`switchboard status`), long replies split without resending parts, exactly once under a race."""

from __future__ import annotations

import base64
import io
import json
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import store
from fastapi.testclient import TestClient
from gated.config import Config
from gated.delivery import DeliveryWorker
from gated.errors import DeliveryError
from gated_channels_support import HERE, make_config, register
from store import blobs
from testkit import StandinAdapter, wait_for


@pytest.fixture
def worker(config: Config) -> DeliveryWorker:
    w = DeliveryWorker(config)
    yield w
    w.close()


def outbound(conn: sqlite3.Connection, text: str, jid: str = "chatx:room", **kw: object) -> int:
    return store.store_outbound(conn, jid, text, group_folder="demo", **kw)  # type: ignore[arg-type]


def status_of(conn: sqlite3.Connection, seq: int) -> store.OutboxItem:
    item = store.outbox_status(conn, seq)
    assert item is not None
    return item


def test_reply_is_posted_to_the_adapter_once(
    client: TestClient, adapter: StandinAdapter, conn: sqlite3.Connection, worker: DeliveryWorker
) -> None:
    register(client, "chatx", adapter.url)
    seq = outbound(conn, "hello there", reply_to_id="m1")
    now = store.utcnow()
    worker.step(now)
    worker.step(now + timedelta(hours=1))
    sends = adapter.sends()
    assert sends == [
        {
            "chat_jid": "chatx:room",
            "id": status_of(conn, seq).id,
            "text": "hello there",
            "reply_to_id": "m1",
            "seq": seq,
            "part": 1,
            "parts": 1,
        }
    ]
    assert status_of(conn, seq).status == "sent"
    remote = conn.execute("SELECT remote_id FROM outbox WHERE seq = ?", (seq,)).fetchone()[0]
    assert remote == "r1"


def test_a_stored_file_reaches_the_adapter_with_the_first_part(
    client: TestClient, adapter: StandinAdapter, conn: sqlite3.Connection, worker: DeliveryWorker
) -> None:
    register(client, "chatx", adapter.url)
    data = bytes(range(256)) * 4
    sha, size = blobs.put_blob(conn, io.BytesIO(data))
    entry = blobs.file_entry("blob.bin", "application/octet-stream", size, sha)
    outbound(conn, "a file", attachments=[entry])
    worker.step(store.utcnow())
    (sent,) = adapter.sends()
    (got,) = sent["attachments"]
    assert (got["name"], got["size"], got["sha256"]) == ("blob.bin", 1024, sha)
    assert base64.b64decode(got["data"]) == data


def test_web_and_cli_replies_are_marked_sent_without_sending(
    conn: sqlite3.Connection, worker: DeliveryWorker
) -> None:
    web = outbound(conn, "for the dashboard", jid="web:demo")
    cli = outbound(conn, "for the terminal", jid="cli:demo")
    worker.step(store.utcnow())
    assert status_of(conn, web).status == "sent"
    assert status_of(conn, cli).status == "sent"


def test_adapter_answering_500_is_retried_with_backoff_then_delivered(
    client: TestClient, adapter: StandinAdapter, conn: sqlite3.Connection, worker: DeliveryWorker
) -> None:
    register(client, "chatx", adapter.url)
    adapter.control(mode="500")
    seq = outbound(conn, "try again")
    t0 = store.utcnow()
    wait = worker.step(t0)
    item = status_of(conn, seq)
    assert (item.status, item.attempts) == ("failed", 1)
    assert "500" in (item.last_error or "")
    assert wait is not None
    assert 1.0 < wait < 3.0  # first back-off ~2 s with jitter
    worker.step(t0 + timedelta(seconds=0.5))  # not yet due: nothing is tried
    assert adapter.stats()["failed"] == 1
    wait2 = worker.step(t0 + timedelta(seconds=wait + 0.01))
    assert status_of(conn, seq).attempts == 2
    assert wait2 is not None
    assert wait2 > wait  # exponential
    adapter.control(mode="ok")
    worker.step(t0 + timedelta(minutes=5))
    assert status_of(conn, seq).status == "sent"
    assert [s["text"] for s in adapter.sends()] == ["try again"]


def test_adapter_down_is_retried_and_delivered_once_it_is_back(
    client: TestClient, adapter: StandinAdapter, conn: sqlite3.Connection, worker: DeliveryWorker
) -> None:
    register(client, "chatx", adapter.url)
    adapter.stop()
    seq = outbound(conn, "are you there?")
    t0 = store.utcnow()
    worker.step(t0)
    item = status_of(conn, seq)
    assert item.status == "failed"
    assert "unreachable" in (item.last_error or "")
    adapter.start()  # same port
    worker.step(t0 + timedelta(minutes=5))
    assert status_of(conn, seq).status == "sent"
    assert [s["text"] for s in adapter.sends()] == ["are you there?"]


def test_after_the_last_attempt_the_reply_is_dead_and_shown_by_status(
    client: TestClient, adapter: StandinAdapter, db: Path, conn: sqlite3.Connection
) -> None:
    register(client, "chatx", adapter.url)
    adapter.control(mode="500")
    worker = DeliveryWorker(make_config(db, max_delivery_attempts=3))
    seq = outbound(conn, "never arrives")
    t = store.utcnow()
    for _ in range(5):
        worker.step(t)
        t += timedelta(hours=1)
    worker.close()
    item = status_of(conn, seq)
    assert (item.status, item.attempts) == ("dead", 3)
    assert adapter.stats()["failed"] == 3
    sys_msgs = store.pending_system_messages(conn, "demo")
    assert [(m.origin, m.event) for m in sys_msgs] == [("gated", "delivery_dead")]
    assert "chatx:room" in sys_msgs[0].body
    out = subprocess.run(
        [str(Path(sys.executable).parent / "switchboard"), "status", "--json", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    status = json.loads(out.stdout)
    assert status["outbox"]["dead"] == 1
    assert status["dead_letters"][0]["seq"] == seq
    assert "500" in status["dead_letters"][0]["error"]


def test_a_4xx_answer_is_permanent(
    client: TestClient, adapter: StandinAdapter, conn: sqlite3.Connection, worker: DeliveryWorker
) -> None:
    register(client, "chatx", adapter.url)
    adapter.control(mode="400")
    seq = outbound(conn, "to nowhere")
    worker.step(store.utcnow())
    item = status_of(conn, seq)
    assert (item.status, item.attempts) == ("dead", 1)
    assert "400" in (item.last_error or "")


def test_a_jid_no_channel_delivers_to_is_dead_with_a_clear_error(
    conn: sqlite3.Connection, worker: DeliveryWorker
) -> None:
    seq = outbound(conn, "hello", jid="nowhere:x")
    worker.step(store.utcnow())
    item = status_of(conn, seq)
    assert item.status == "dead"
    assert "no channel delivers to jid prefix 'nowhere'" in (item.last_error or "")
    assert store.pending_system_messages(conn, "demo")[0].event == "delivery_dead"


class RecordingSender:
    def __init__(self, fail: DeliveryError | None = None) -> None:
        self.sent: list[store.OutboxItem] = []
        self.fail = fail

    def send(self, item: store.OutboxItem) -> str | None:
        if self.fail:
            raise self.fail
        self.sent.append(item)
        return "<msg-1@example.test>"


def test_an_in_process_sender_handles_its_channel(config: Config, conn: sqlite3.Connection) -> None:
    sender = RecordingSender()
    worker = DeliveryWorker(config, {"email": sender})
    seq = outbound(conn, "by mail", jid="email:bob@example.test")
    worker.step(store.utcnow())
    worker.close()
    assert [i.seq for i in sender.sent] == [seq]
    assert status_of(conn, seq).status == "sent"
    failing = DeliveryWorker(
        config, {"email": RecordingSender(DeliveryError("bounced", permanent=True))}
    )
    seq2 = outbound(conn, "again", jid="email:bob@example.test")
    failing.step(store.utcnow())
    failing.close()
    assert status_of(conn, seq2).status == "dead"


def test_long_reply_is_split_and_a_retry_resends_no_delivered_part(
    client: TestClient, adapter: StandinAdapter, conn: sqlite3.Connection, worker: DeliveryWorker
) -> None:
    register(client, "chatx", adapter.url, max_message_chars=60)
    paragraphs = [f"Paragraph {i} has a few words in it, enough to matter." for i in range(4)]
    seq = outbound(conn, "\n\n".join(paragraphs))
    adapter.control(ok_budget=2)  # two parts go through, then the platform fails
    t0 = store.utcnow()
    worker.step(t0)
    assert status_of(conn, seq).status == "failed"
    adapter.control(mode="ok")
    worker.step(t0 + timedelta(minutes=5))
    assert status_of(conn, seq).status == "sent"
    sends = adapter.sends()
    assert [s["text"] for s in sends] == paragraphs
    assert [(s["part"], s["parts"]) for s in sends] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert store.get_state(conn, f"delivery_parts:{seq}") is None


def test_two_worker_processes_deliver_each_reply_exactly_once(
    client: TestClient, adapter: StandinAdapter, db: Path, conn: sqlite3.Connection
) -> None:
    register(client, "chatx", adapter.url)
    n = 60
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "delivery_worker_proc.py"), str(db)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "READY"
        seqs = [outbound(conn, f"reply {i}", jid=f"chatx:room{i % 7}") for i in range(n)]
        wait_for(
            lambda: store.outbox_counts(conn)["sent"] == n, timeout=30, what="all replies sent"
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            assert p.wait(timeout=15) == 0
    sends = adapter.sends()
    assert sorted(s["seq"] for s in sends) == seqs
