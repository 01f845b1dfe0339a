"""Typing notices while an agent runs (adapter protocol 1.1): a real agent pool runs a slow
agent for a chat of a real stand-in adapter; /typing comes at once, again every interval, with
the secret and the thread, and stops when the run ends; none for an adapter without `typing`;
an adapter that is down never hurts the run."""

from __future__ import annotations

import itertools
import os
import secrets
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import store
from fastapi.testclient import TestClient
from gated.agent import RunSpec
from gated.queue import AgentPool
from gated.threads import topic_for_thread
from gated.typing_notify import TYPING_INTERVAL_S, TypingNotifier
from gated_channels_support import register
from testkit import StandinAdapter

SEND_SECRET = secrets.token_urlsafe(32)
INTERVAL_S = 0.4
RUN_S = 2.0
SLOW_AGENT = (
    "import json, sys, time; sys.stdin.readline(); time.sleep(float(sys.argv[1])); "
    "print(json.dumps({'type': 'message', 'text': 'done'})); "
    "print(json.dumps({'type': 'result', 'status': 'ok'}))"
)


@pytest.fixture
def adapter11(tmp_path: Path) -> Iterator[StandinAdapter]:
    a = StandinAdapter(tmp_path / "sends11.jsonl", secret=SEND_SECRET)
    a.start()
    yield a
    a.stop()


def run_slow_agent(
    db: Path, tmp_path: Path, chat_jid: str, topic: str = "", seconds: float = RUN_S
) -> tuple[float, float]:
    """Run the slow agent for `chat_jid` in a real pool with a typing notifier; the monotonic
    times it started and ended (its outcome recorded)."""
    conn = store.connect(db)
    try:
        store.register_group(conn, chat_jid, "demo")
        key = store.WorkKey.chat(chat_jid)
        run_id = store.open_run(conn, store.NewRun(key, "demo", topic, chat_jid, 1, sandbox="none"))
        assert run_id is not None
    finally:
        conn.close()
    ended = threading.Event()
    notifier = TypingNotifier(str(db), interval_s=INTERVAL_S)
    pool = AgentPool(str(db), 2, wake=ended.set, typing=notifier)
    folder = tmp_path / "demo"
    folder.mkdir(exist_ok=True)
    payload: dict[str, Any] = {"chat_jid": chat_jid, "topic": topic, "messages": []}
    started = time.monotonic()
    pool.start(
        RunSpec(
            key=key,
            folder="demo",
            topic=topic,
            chat_jid=chat_jid,
            argv=[sys.executable, "-c", SLOW_AGENT, str(seconds)],
            cwd=folder,
            env=dict(os.environ),
            timeout_s=30,
            payload=payload,
            last_seq=1,
            reply_to_id=None,
            run_id=run_id,
        )
    )
    try:
        assert ended.wait(30), "the run did not end"
        finished = time.monotonic()
        [done] = pool.take_finished()
        assert not done.failed
        # Long enough for several more notices, had they not stopped.
        time.sleep(INTERVAL_S * 3)
    finally:
        pool.shutdown(5.0)
        notifier.stop()
    return started, finished


def test_typing_is_posted_at_once_and_every_interval_while_the_agent_runs(
    client: TestClient, adapter11: StandinAdapter, db: Path, tmp_path: Path
) -> None:
    register(
        client,
        "tg",
        adapter11.url,
        protocol="1.1",
        send_secret=SEND_SECRET,
        capabilities={"typing": True, "threads": True},
    )
    conn = store.connect(db)
    topic = topic_for_thread(conn, "tg:42", "777")
    conn.close()
    started, finished = run_slow_agent(db, tmp_path, "tg:42", topic)
    notices = adapter11.typings()
    times = [t for t, _ in notices]
    assert {tuple(sorted(b.items())) for _, b in notices} == {
        (("chat_jid", "tg:42"), ("thread_id", "777"))
    }
    assert times[0] - started < 1.5  # at once (the agent process starts meanwhile)
    assert len(times) >= int(RUN_S / INTERVAL_S) - 1
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(INTERVAL_S * 0.7 < g < INTERVAL_S * 2.5 for g in gaps), gaps
    assert times[-1] < finished + 0.2  # none after the run ended
    assert adapter11.stats()["unauthorized"] == 0  # each carried the secret


def test_no_typing_for_an_adapter_without_the_capability(
    client: TestClient, adapter11: StandinAdapter, db: Path, tmp_path: Path
) -> None:
    register(client, "tg", adapter11.url, protocol="1.1", send_secret=SEND_SECRET, capabilities={})
    run_slow_agent(db, tmp_path, "tg:42", seconds=1.0)
    assert adapter11.typings() == []


def test_an_adapter_that_is_down_does_not_hurt_the_run(
    client: TestClient, adapter11: StandinAdapter, db: Path, tmp_path: Path
) -> None:
    register(
        client,
        "tg",
        adapter11.url,
        protocol="1.1",
        send_secret=SEND_SECRET,
        capabilities={"typing": True},
    )
    adapter11.stop()
    started, finished = run_slow_agent(db, tmp_path, "tg:42", seconds=1.0)
    assert finished - started < 10
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT result FROM session_log").fetchone()[0] == "ok"


def test_the_default_interval_is_four_seconds() -> None:
    assert TYPING_INTERVAL_S == 4.0
