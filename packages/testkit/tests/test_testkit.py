"""The test kit itself: polling returns the first truthy value or fails naming the wait; the
stand-in adapter records sends, switches failure modes, restarts on its port, records
nothing for a caller killed before its body, and never outlives a failed start; with a secret
it speaks protocol 1.1 (401 without it, /typing recorded, Retry-After on 429/503)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest
from testkit import StandinAdapter, wait_for, waiter


def test_wait_for_returns_the_first_truthy_value() -> None:
    values = iter([0, "", None, [], "ready", "later"])
    assert wait_for(lambda: next(values), 5, "a value", interval=0) == "ready"


def test_wait_for_fails_naming_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"timed out after 0.1 s waiting for the moon"):
        wait_for(lambda: False, 0.1, "the moon")
    assert time.monotonic() - started < 5


def test_a_waiter_has_its_own_default_deadline() -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0.05 s waiting for condition"):
        waiter(0.05)(lambda: None)
    assert waiter(0.05)(lambda: 3, 5, "three") == 3


def send(adapter: StandinAdapter, text: str) -> httpx.Response:
    body = {"chat_jid": "sa:1", "id": text, "text": text}
    return httpx.post(f"{adapter.url}/send", json=body, timeout=5)


def test_adapter_records_sends_and_switches_modes(tmp_path: Path) -> None:
    with StandinAdapter(tmp_path / "sends.jsonl") as adapter:
        assert adapter.healthy()
        assert send(adapter, "one").json() == {"remote_id": "r1"}
        adapter.control(mode="400")
        assert send(adapter, "lost").status_code == 400
        adapter.control(mode="ok", ok_budget=1)
        assert send(adapter, "two").status_code == 200
        assert send(adapter, "over budget").status_code == 500
        assert not adapter.healthy()
        stats = adapter.stats()
        assert isinstance(stats.pop("last_failed_at"), float)
        assert stats == {
            "mode": "500",
            "ok_budget": None,
            "failed": 2,
            "sent": 2,
            "retry_after": None,
            "unauthorized": 0,
        }
        assert [b["text"] for b in adapter.sends()] == ["one", "two"]
        assert adapter.sends("sa:other") == []
    assert adapter.proc is None
    assert not adapter.healthy()


def test_adapter_restarts_on_its_port_and_stamps_arrivals(tmp_path: Path) -> None:
    adapter = StandinAdapter(tmp_path / "sends.jsonl", delay=0.2, stamp=True).start()
    try:
        port = adapter.port
        adapter.kill()
        assert not adapter.healthy()
        adapter.start()
        assert adapter.port == port
        before = time.monotonic()
        assert send(adapter, "slow").status_code == 200
        assert time.monotonic() - before >= 0.2
        [(at, body)] = adapter.received()
        assert before <= at <= time.monotonic()
        assert body == {"chat_jid": "sa:1", "id": "slow", "text": "slow"}
    finally:
        adapter.stop()


def test_a_failed_start_leaves_no_process(tmp_path: Path) -> None:
    with StandinAdapter(tmp_path / "a.jsonl") as first:
        taken = StandinAdapter(tmp_path / "b.jsonl", port=first.port)
        with pytest.raises(AssertionError, match="did not start"):
            taken.start()
        assert taken.proc is None


def test_a_caller_killed_between_headers_and_body_records_nothing(tmp_path: Path) -> None:
    # gated killed mid-send: the headers promise a body that never comes.
    with StandinAdapter(tmp_path / "sends.jsonl") as adapter:
        with socket.create_connection(("127.0.0.1", adapter.port), timeout=5) as sock:
            sock.sendall(
                b"POST /send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 60\r\n\r\n"
            )
        with socket.create_connection(("127.0.0.1", adapter.port), timeout=5) as sock:
            sock.sendall(b'POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n{"chat')
        assert send(adapter, "whole").status_code == 200
        assert adapter.sends() == [{"chat_jid": "sa:1", "id": "whole", "text": "whole"}]
        assert httpx.post(f"{adapter.url}/send", json=[1], timeout=5).status_code == 400
        assert adapter.stats()["sent"] == 1


def test_a_v11_adapter_wants_its_secret_records_typing_and_sends_retry_after(
    tmp_path: Path,
) -> None:
    secret = "s" * 43
    auth = {"Authorization": f"Bearer {secret}"}
    body = {"chat_jid": "sa:1", "id": "x", "text": "x"}
    with StandinAdapter(tmp_path / "sends.jsonl", secret=secret) as adapter:
        assert adapter.healthy()
        assert httpx.get(f"{adapter.url}/health", timeout=5).status_code == 401
        assert httpx.post(f"{adapter.url}/send", json=body, timeout=5).status_code == 401
        wrong = {"Authorization": "Bearer " + "t" * 43}
        assert httpx.post(f"{adapter.url}/typing", json={}, headers=wrong).status_code == 401
        typing = {"chat_jid": "sa:1", "thread_id": "7"}
        assert httpx.post(f"{adapter.url}/typing", json=typing, headers=auth).status_code == 200
        assert [b for _, b in adapter.typings()] == [typing]
        adapter.control(mode="429", retry_after="7")
        resp = httpx.post(f"{adapter.url}/send", json=body, headers=auth, timeout=5)
        assert (resp.status_code, resp.headers["retry-after"]) == (429, "7")
        assert adapter.stats()["unauthorized"] == 3
        assert adapter.sends() == []


def test_a_v10_adapter_has_no_typing_endpoint(tmp_path: Path) -> None:
    with StandinAdapter(tmp_path / "sends.jsonl") as adapter:
        assert httpx.post(f"{adapter.url}/typing", json={}, timeout=5).status_code == 404
        assert adapter.typings() == []
