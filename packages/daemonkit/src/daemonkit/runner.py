"""The life cycle every daemon shares: signals, heartbeat, sd_notify, and the
`wait_for_change -> step(now)` main loop that logs an unexpected error and goes on."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import Any, Protocol

from store import Schemas, StoreError
from store import open as store_open
from store.clock import now_iso, utcnow
from store.notify import wait_for_change
from store.state import daemon_stopped, heartbeat

from daemonkit import tracing
from daemonkit.errors import Fatal
from daemonkit.logs import setup_logging
from daemonkit.sdnotify import sd_notify

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
IDLE_WAKE_S = 1.0


class Service(Protocol):
    """What a daemon implements; the runner drives it."""

    name: str
    version: str

    def start(self) -> None: ...
    def step(self, now: datetime) -> float | None:
        """One pass of work; returns the longest sleep it can afford (None: idle default)."""
        ...

    def stop(self) -> None: ...
    def info(self) -> dict[str, Any]: ...


class Runner:
    """Runs a Service until SIGTERM/SIGINT: heartbeat every 5 s, step on every db change."""

    def __init__(self, service: Service, conn: sqlite3.Connection) -> None:
        self.service = service
        self.conn = conn
        self.stopping = threading.Event()
        self.started_at = now_iso()
        self._last_beat = 0.0

    def request_stop(self, signum: int = 0, frame: FrameType | None = None) -> None:
        if not self.stopping.is_set():
            log.info("stopping %s (signal %s)", self.service.name, signum)
        self.stopping.set()

    def beat(self) -> None:
        heartbeat(
            self.conn,
            self.service.name,
            version=self.service.version,
            started_at=self.started_at,
            info=self.service.info(),
        )
        self._last_beat = time.monotonic()
        sd_notify("WATCHDOG=1")

    def run(self) -> int:
        """Start, report ready, loop until asked to stop; 0 on a clean stop, 1 on Fatal."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        try:
            self.service.start()
        except Fatal as exc:
            return self._fail(exc)
        self.beat()
        sd_notify("READY=1")
        log.info("%s %s ready pid=%d", self.service.name, self.service.version, os.getpid())
        while not self.stopping.is_set():
            wait = IDLE_WAKE_S
            try:
                wanted = self.service.step(utcnow())
                if wanted is not None:
                    wait = max(0.0, min(wait, wanted))
            except Fatal as exc:
                return self._fail(exc)
            except Exception:
                log.exception("unexpected error in %s step; continuing", self.service.name)
                wait = IDLE_WAKE_S
            try:
                if time.monotonic() - self._last_beat >= HEARTBEAT_S:
                    self.beat()
            except sqlite3.Error:
                log.exception("heartbeat failed; continuing")
            until_beat = HEARTBEAT_S - (time.monotonic() - self._last_beat)
            wait_for_change(self.conn, max(0.0, min(wait, until_beat)), self.stopping)
        sd_notify("STOPPING=1")
        try:
            self.service.stop()
        finally:
            daemon_stopped(self.conn, self.service.name)
        log.info("%s stopped", self.service.name)
        return 0

    def _fail(self, exc: Fatal) -> int:
        """Stop what started, then make the reason the last line of the log."""
        try:
            self.service.stop()
        except Exception:
            log.exception("stopping %s after a fatal error failed", self.service.name)
        log.error("%s cannot go on, exiting: %s", self.service.name, exc)
        return 1


class DaemonSettings(Protocol):
    """What `run_daemon` needs of a daemon's Config."""

    @property
    def db_path(self) -> str: ...
    @property
    def log_level(self) -> str: ...
    @property
    def log_format(self) -> str: ...


def run_daemon(
    cfg: DaemonSettings, schemas: Schemas, make: Callable[[sqlite3.Connection], Service]
) -> int:
    """A daemon's whole `main` after its settings are read: logging, the store opened with its
    schemas, the Runner. A store that refuses (a schema newer than this code, an unusable
    file) is one logged line and exit 2, like a bad setting."""
    setup_logging(cfg.log_level, cfg.log_format)
    try:
        tracing.endpoint_of()  # a bad value stops the daemon before it touches the store
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    try:
        conn = store_open(cfg.db_path, schemas)
    except StoreError as exc:
        log.error("cannot open the store: %s", exc)
        return 2
    service = make(conn)
    tracing.setup(service.name)
    try:
        return Runner(service, conn).run()
    finally:
        tracing.shutdown()  # the spans not exported yet
