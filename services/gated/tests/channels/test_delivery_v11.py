"""Delivery to a protocol 1.1 adapter (a real stand-in process that demands its secret): the
secret, the formatted text with its plain fallback, an idempotency key per part and the thread
of the reply's topic; parts that fit max_text once formatted; Retry-After honoured, measured."""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import store
from fastapi.testclient import TestClient
from gated.adapters import HealthMonitor
from gated.config import Config
from gated.delivery import DeliveryWorker, retry_after
from gated.threads import topic_for_thread
from gated_channels_support import register
from markdown_v2_reader import read_markdown_v2
from testkit import StandinAdapter, wait_for

SEND_SECRET = secrets.token_urlsafe(32)


@pytest.fixture
def adapter11(tmp_path: Path) -> Iterator[StandinAdapter]:
    a = StandinAdapter(tmp_path / "sends11.jsonl", secret=SEND_SECRET, stamp=True)
    a.start()
    yield a
    a.stop()


@pytest.fixture
def worker(config: Config) -> Iterator[DeliveryWorker]:
    w = DeliveryWorker(config)
    yield w
    w.close()


def register11(
    client: TestClient, adapter: StandinAdapter, secret: str = SEND_SECRET, **caps: Any
) -> None:
    capabilities = {"format": "telegram_markdown_v2", "typing": True, **caps}
    register(
        client, "tg", adapter.url, protocol="1.1", send_secret=secret, capabilities=capabilities
    )


def outbound(conn: sqlite3.Connection, text: str, jid: str = "tg:42", **kw: Any) -> int:
    return store.store_outbound(conn, jid, text, group_folder="demo", **kw)


def item(conn: sqlite3.Connection, seq: int) -> store.OutboxItem:
    found = store.outbox_status(conn, seq)
    assert found is not None
    return found


def test_a_v11_send_carries_the_secret_the_formats_the_key_and_no_thread(
    client: TestClient, adapter11: StandinAdapter, conn: sqlite3.Connection, worker: DeliveryWorker
) -> None:
    register11(client, adapter11)
    seq = outbound(conn, "**Done**: v1.5 shipped!", reply_to_id="m1")
    worker.step(store.utcnow())
    reply_id = item(conn, seq).id
    assert adapter11.sends() == [
        {
            "chat_jid": "tg:42",
            "id": reply_id,
            "text": "*Done*: v1\\.5 shipped\\!",
            "format": "telegram_markdown_v2",
            "plain": "Done: v1.5 shipped!",
            "reply_to_id": "m1",
            "seq": seq,
            "part": 1,
            "parts": 1,
            "idempotency_key": f"{reply_id}:1",
            "thread_id": None,
        }
    ]
    assert item(conn, seq).status == "sent"
    assert adapter11.stats()["unauthorized"] == 0


def test_a_reply_to_a_thread_topic_goes_back_into_the_thread(
    client: TestClient, adapter11: StandinAdapter, conn: sqlite3.Connection, worker: DeliveryWorker
) -> None:
    register11(client, adapter11, format="plain")
    topic = topic_for_thread(conn, "tg:42", "777")
    outbound(conn, "in the thread", topic=topic)
    outbound(conn, "a topic of no thread", topic="research")
    outbound(conn, "same topic, other chat", jid="tg:43", topic=topic)
    worker.step(store.utcnow())
    threads = {s["text"]: s["thread_id"] for s in adapter11.sends()}
    assert threads == {
        "in the thread": "777",
        "a topic of no thread": None,
        "same topic, other chat": None,
    }


def test_an_adapter_that_does_not_get_its_secret_refuses_and_the_reply_is_dead(
    client: TestClient, adapter11: StandinAdapter, conn: sqlite3.Connection, worker: DeliveryWorker
) -> None:
    register11(client, adapter11, secret=secrets.token_urlsafe(32))  # not the adapter's
    seq = outbound(conn, "hello")
    worker.step(store.utcnow())
    found = item(conn, seq)
    assert found.status == "dead"
    assert "401" in (found.last_error or "")
    assert adapter11.sends() == []
    assert adapter11.stats()["unauthorized"] == 1


def test_the_health_check_of_a_v11_adapter_carries_the_secret(
    client: TestClient, adapter11: StandinAdapter, config: Config, conn: sqlite3.Connection
) -> None:
    register11(client, adapter11)
    monitor = HealthMonitor(config)
    try:
        monitor.step(store.utcnow())
    finally:
        monitor.close()
    row = conn.execute("SELECT health, health_error FROM channels").fetchone()
    assert tuple(row) == ("ok", None)


def test_parts_fit_max_text_once_formatted_and_each_is_valid_markdownv2(
    client: TestClient, adapter11: StandinAdapter, conn: sqlite3.Connection, worker: DeliveryWorker
) -> None:
    register11(client, adapter11, max_text=60)
    # Nearly every character is reserved: escaped, the text is about twice as long.
    text = " ".join(f"v{n}.{n}-rc!" for n in range(40))
    seq = outbound(conn, text)
    worker.step(store.utcnow())
    sends = adapter11.sends()
    assert len(sends) > len(text) // 60
    for n, body in enumerate(sends, 1):
        assert len(body["text"]) <= 60
        assert len(body["plain"]) <= 60
        assert read_markdown_v2(body["text"]) == body["plain"]
        assert (body["part"], body["parts"]) == (n, len(sends))
        assert body["idempotency_key"] == f"{item(conn, seq).id}:{n}"
    assert " ".join(b["plain"] for b in sends) == text


def test_matrix_html_parts_fit_max_text_after_escaping(
    client: TestClient, adapter11: StandinAdapter, conn: sqlite3.Connection, worker: DeliveryWorker
) -> None:
    register11(client, adapter11, format="matrix_html", max_text=80)
    text = " ".join(["<&>"] * 60)  # each character escapes to 4 or 5
    outbound(conn, text)
    worker.step(store.utcnow())
    sends = adapter11.sends()
    assert all(len(s["text"]) <= 80 for s in sends)
    assert " ".join(s["plain"] for s in sends) == text


def test_a_retry_after_a_failed_part_resends_that_part_under_the_same_key(
    client: TestClient, adapter11: StandinAdapter, conn: sqlite3.Connection, worker: DeliveryWorker
) -> None:
    register11(client, adapter11, format="plain", max_text=50)
    seq = outbound(conn, "First part sentence is here. " * 2 + "Second part sentence here.")
    adapter11.control(ok_budget=1)
    t0 = store.utcnow()
    worker.step(t0)
    adapter11.control(mode="ok")
    worker.step(t0 + timedelta(minutes=5))
    sends = adapter11.sends()
    reply_id = item(conn, seq).id
    assert sends[0]["parts"] > 2
    assert adapter11.stats()["failed"] == 1  # part 2, once; then 2.. again, 1 never
    assert [s["idempotency_key"] for s in sends] == [
        f"{reply_id}:{n}" for n in range(1, sends[0]["parts"] + 1)
    ]


@pytest.mark.parametrize("status", ["429", "503"])
def test_retry_after_seconds_is_the_earliest_next_try(
    client: TestClient,
    adapter11: StandinAdapter,
    conn: sqlite3.Connection,
    worker: DeliveryWorker,
    status: str,
) -> None:
    register11(client, adapter11)
    adapter11.control(mode=status, retry_after="30")
    seq = outbound(conn, "later please")
    t0 = store.utcnow()
    wait = worker.step(t0)
    assert wait is not None
    assert 30.0 <= wait < 31.0  # from the answer; the back-off alone would be ~2 s
    assert item(conn, seq).status == "failed"
    adapter11.control(mode="ok")
    worker.step(t0 + timedelta(seconds=29))
    assert adapter11.sends() == []
    assert adapter11.stats()["failed"] == 1
    worker.step(t0 + timedelta(seconds=30.5))
    assert [s["text"] for s in adapter11.sends()] == ["later please"]


@pytest.mark.parametrize(
    ("header", "low", "high"),
    [
        ("100000", 600.0, 601.0),  # capped at the back-off's cap (from the answer)
        ("0.2", 1.5, 2.5),  # the back-off, later, stands
        ("soon", 1.5, 2.5),  # not a time: the back-off
        ("-5", 1.5, 2.5),
        ("nan", 1.5, 2.5),
    ],
)
def test_retry_after_is_capped_and_a_bad_one_is_ignored(
    client: TestClient,
    adapter11: StandinAdapter,
    conn: sqlite3.Connection,
    worker: DeliveryWorker,
    header: str,
    low: float,
    high: float,
) -> None:
    register11(client, adapter11)
    adapter11.control(mode="429", retry_after=header)
    outbound(conn, "x")
    wait = worker.step(store.utcnow())
    assert wait is not None
    assert low < wait <= high


def test_retry_after_may_be_an_http_date() -> None:
    now = store.utcnow()
    after = retry_after(format_datetime(now + timedelta(seconds=45), usegmt=True), now)
    assert after is not None
    assert 44.0 <= after <= 45.0
    assert retry_after("Mon, 01 Jan 2001 00:00:00 GMT", now) is None  # in the past


def test_the_running_worker_waits_out_retry_after_measured_on_the_adapter(
    client: TestClient, adapter11: StandinAdapter, conn: sqlite3.Connection, config: Config
) -> None:
    register11(client, adapter11)
    adapter11.control(mode="429", retry_after="3")
    worker = DeliveryWorker(config)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        outbound(conn, "measured")
        wait_for(lambda: adapter11.stats()["failed"] == 1, what="the first try")
        adapter11.control(mode="ok")
        wait_for(adapter11.received, 10, "the retry")
    finally:
        stop.set()
        thread.join(10)
    [(arrived, body)] = adapter11.received()
    gap = arrived - float(adapter11.stats()["last_failed_at"])
    assert body["text"] == "measured"
    assert 3.0 <= gap < 5.0, gap
    assert time.monotonic() - arrived < 10
