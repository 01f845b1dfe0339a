"""`daemonkit.worker`: a component's steps until stop, an unexpected error logged and the loop
going on, a wake-up on a db change, and a crashed thread turned into Fatal."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import store
from daemonkit.errors import Fatal
from daemonkit.worker import Threads, run_steps


def poll(condition: Callable[[], object], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_an_unexpected_error_is_logged_and_the_steps_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = threading.Event()
    calls: list[datetime] = []

    def step(now: datetime) -> float:
        calls.append(now)
        if len(calls) == 2:
            raise RuntimeError("boom")
        if len(calls) == 4:
            stop.set()
        return 0.0

    with caplog.at_level(logging.ERROR):
        run_steps("test pass", step, stop, idle_s=5.0, error_wait_s=0.0)
    assert len(calls) == 4
    assert all(c.tzinfo is not None for c in calls)
    assert "test pass failed; continuing" in caplog.text
    assert "RuntimeError: boom" in caplog.text


def test_fatal_ends_the_steps() -> None:
    def step(now: datetime) -> float:
        raise Fatal("cannot go on")

    with pytest.raises(Fatal, match="cannot go on"):
        run_steps("test pass", step, threading.Event(), idle_s=0.01)


def test_a_commit_ends_the_wait_early(tmp_path: Path) -> None:
    conn = store.open(tmp_path / "m.db")
    writer = store.connect(tmp_path / "m.db")
    stop = threading.Event()
    calls: list[datetime] = []

    def step(now: datetime) -> None:
        calls.append(now)
        if len(calls) == 2:
            stop.set()

    thread = threading.Thread(
        target=run_steps, args=("test pass", step, stop), kwargs={"idle_s": 60, "changes": conn}
    )
    started = time.monotonic()
    thread.start()
    poll(lambda: calls, "the first step")
    store.set_state(writer, "test:key", "1")
    thread.join(10)
    assert not thread.is_alive()
    assert len(calls) == 2
    assert time.monotonic() - started < 30
    conn.close()
    writer.close()


def test_stop_ends_a_long_wait() -> None:
    stop = threading.Event()
    thread = threading.Thread(
        target=run_steps, args=("test pass", lambda now: None, stop), kwargs={"idle_s": 60}
    )
    thread.start()
    stop.set()
    thread.join(10)
    assert not thread.is_alive()


def test_a_crashed_thread_is_fatal(caplog: pytest.LogCaptureFixture) -> None:
    threads = Threads()

    def crash() -> None:
        raise RuntimeError("broken component")

    threads.start("ok", lambda: None)
    threads.start("broken", crash)
    threads.join(10)
    assert "broken thread crashed" in caplog.text
    with pytest.raises(Fatal, match="the broken thread crashed"):
        threads.check()
