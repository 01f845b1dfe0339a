"""Entry point of the timed daemon: start-up applies timed's schema once, daemonkit's Runner
heartbeats and re-arms the alarm on every database change; the APScheduler alarm fires due
tasks (see timed.alarm and docs/timed.md)."""

from __future__ import annotations

import os
import sqlite3
import sys
from datetime import datetime
from typing import Any, Final

import store
from daemonkit.listener import HttpListener
from daemonkit.metrics import serve_metrics
from daemonkit.runner import run_daemon

from timed import __version__, config, migrations
from timed.alarm import Alarm
from timed.api import this_process
from timed.config import Config, build_parser
from timed.metrics import TimedMetrics

__all__ = ["Daemon", "build_parser", "main"]

SCHEMAS: Final[store.Schemas] = {"timed": migrations.MIGRATIONS}


class Daemon:
    """The Service the Runner drives: re-arms the alarm after every change it sees."""

    name = "timed"
    version = __version__

    def __init__(self, conn: sqlite3.Connection, config: Config) -> None:
        self.conn = conn
        self.config = config
        self.alarm = Alarm(config.db_path, fired_by=this_process(), batch=config.batch)
        self.metrics = TimedMetrics(config.db_path)
        self.metrics_listener: HttpListener | None = None

    def start(self) -> None:
        # Not armed yet: the first step (right after the heartbeat row says we are up) arms
        # it. Armed here, a burst of due tasks would hold the write lock from before that
        # first heartbeat, and the row announcing this process could wait out the burst.
        self.alarm.start()
        if self.config.metrics_listen is not None:
            self.metrics_listener = serve_metrics(
                "timed", self.metrics, self.config.metrics_listen, self.config.metrics_token
            )

    def step(self, now: datetime) -> float | None:
        if self.metrics_listener is not None:
            self.metrics_listener.check()
        # Called after every commit seen and at least once a second: cheap MIN(next_run).
        self.alarm.sync(self.conn)
        return None

    def stop(self) -> None:
        self.alarm.stop()
        if self.metrics_listener is not None:
            self.metrics_listener.stop()
        self.metrics.close()

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), **self.alarm.info()}


def main(argv: list[str] | None = None) -> int:
    cfg = config.load(argv)
    return run_daemon(cfg, SCHEMAS, lambda conn: Daemon(conn, cfg))


if __name__ == "__main__":
    sys.exit(main())
