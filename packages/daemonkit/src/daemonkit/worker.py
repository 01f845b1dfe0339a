"""A daemon's components beside its main loop: `run_steps` calls a component's `step(now)` until
a stop event, sleeping what it returns (woken early by a db change when given a connection),
logging an unexpected error and going on; `Threads` runs components on their own threads and
turns one that crashed into `Fatal`."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime

from store.clock import utcnow
from store.notify import ChangeWatcher

from daemonkit.errors import Fatal

log = logging.getLogger(__name__)

Step = Callable[[datetime], float | None]


def run_steps(
    what: str,
    step: Step,
    stop: threading.Event,
    *,
    idle_s: float,
    error_wait_s: float | None = None,
    changes: sqlite3.Connection | None = None,
) -> None:
    """Call `step(now)` until `stop` is set. It returns the seconds until it wants to run again
    (None: `idle_s`; never longer than `idle_s`; 0: at once). An unexpected error is logged with
    its traceback and the next step comes after `error_wait_s` (default `idle_s`); `Fatal`
    ends the loop. With `changes`, a commit seen on that connection ends the wait early —
    one made while a step runs included (the watch starts before the first step)."""
    watcher = ChangeWatcher(changes) if changes is not None else None
    while not stop.is_set():
        try:
            wanted = step(utcnow())
        except Fatal:
            raise
        except Exception:
            log.exception("%s failed; continuing", what)
            wanted = idle_s if error_wait_s is None else error_wait_s
        wait = idle_s if wanted is None else min(wanted, idle_s)
        if wait <= 0:
            continue
        if watcher is not None:
            watcher.wait(wait, stop)
        else:
            stop.wait(wait)


class Threads:
    """A daemon's component threads. One that ends with an exception is logged and named by
    `check()` as `Fatal`, so the daemon exits and its supervisor restarts it."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.crashed: list[str] = []

    def start(self, name: str, target: Callable[[], object]) -> None:
        """Run `target()` on a daemon thread called `name`."""

        def body() -> None:
            try:
                target()
            except Exception:
                log.exception("%s thread crashed", name)
                self.crashed.append(name)

        thread = threading.Thread(target=body, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def check(self) -> None:
        """Fatal when a thread crashed."""
        if self.crashed:
            raise Fatal(f"the {', '.join(self.crashed)} thread crashed (its traceback is above)")

    def join(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for each thread (their stop event is set); warn of any left."""
        for thread in self.threads:
            thread.join(timeout=timeout_s)
            if thread.is_alive():
                log.warning("thread %s did not stop in %.0fs", thread.name, timeout_s)
