"""The life cycle every daemon shares: common flags, logging, signals, heartbeat, sd_notify,
and the `wait_for_change -> step(now)` main loop that logs an unexpected error and goes on."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
from datetime import datetime
from types import FrameType
from typing import Any, Protocol

from store import settings
from store.clock import now_iso, utcnow
from store.connection import resolve_db_path
from store.errors import Fatal
from store.notify import wait_for_change
from store.state import daemon_stopped, heartbeat

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
IDLE_WAKE_S = 1.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


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


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """--db, --log-level, --log-format, each with its SWITCHBOARD_* variable."""
    settings.add_setting(
        parser,
        "--db",
        env="SWITCHBOARD_DB",
        parse=settings.optional_text,
        default=None,
        metavar="PATH",
        help="database file; default ./data/messages.db",
    )
    settings.add_setting(
        parser,
        "--log-level",
        env="SWITCHBOARD_LOG_LEVEL",
        parse=settings.choice(*LOG_LEVELS, fold=True),
        default="INFO",
        help="default INFO",
    )
    settings.add_setting(
        parser,
        "--log-format",
        env="SWITCHBOARD_LOG_FORMAT",
        parse=settings.choice(*LOG_FORMATS),
        default="text",
        help="default text",
    )


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": now_iso(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Configure the root logger once for a daemon or the CLI (stderr)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def sd_notify(state: str) -> bool:
    """Send a systemd notification (READY=1, WATCHDOG=1, STOPPING=1); False outside systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(addr)
            sock.sendall(state.encode())
        return True
    except OSError as exc:
        log.warning("sd_notify failed: %s", exc)
        return False


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


def db_path_from(args: argparse.Namespace) -> str:
    """The db path a daemon was given (flag > env > default), as text."""
    return str(resolve_db_path(args.db))
