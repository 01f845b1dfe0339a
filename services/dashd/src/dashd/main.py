"""Entry point of the dashd daemon: start-up applies the schemas dashd writes once, it serves
the dashboard with uvicorn in a thread and heartbeats through the shared `Runner` life cycle."""

from __future__ import annotations

import logging
import sqlite3
import sys
from datetime import datetime, timedelta
from typing import Any, Final

import store
from daemonkit.alerts import Alerter
from daemonkit.listener import HttpListener
from daemonkit.runner import run_daemon
from onbod import migrations as onbod_migrations
from timed import migrations as timed_migrations

from dashd import __version__, auth, config, migrations
from dashd.app import create_app
from dashd.config import Config, build_parser

__all__ = ["Daemon", "build_parser", "main"]

log = logging.getLogger(__name__)

PRUNE_EVERY: Final = timedelta(hours=1)
# At stop, requests still open this long after the hub ended the streams are cancelled.
STREAMS_GRACE_S: Final = 3
# The schemas dashd writes: its own, and timed's and onbod's (the task and onboarding buttons).
SCHEMAS: Final[store.Schemas] = {
    "dashd": migrations.MIGRATIONS,
    "timed": timed_migrations.MIGRATIONS,
    "onbod": onbod_migrations.MIGRATIONS,
}


class Daemon:
    """The Service the Runner drives: the dashboard on a thread; hourly pruning and the watch
    on gated's heartbeat (daemonkit.alerts) in `step`."""

    name = "dashd"
    version = __version__

    def __init__(self, conn: sqlite3.Connection, config: Config) -> None:
        self.conn = conn
        self.config = config
        self.listener: HttpListener | None = None
        self.port = config.port
        self._last_prune: datetime | None = None
        self.alerter = Alerter(conn, ("gated",), config.alert_stale_s)

    def start(self) -> None:
        app = create_app(self.config)
        self.app = app
        self.listener = HttpListener(
            "dashboard",
            app,
            self.config.host,
            self.config.port,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=STREAMS_GRACE_S,
        )
        self.port = self.listener.start()
        log.info("dashboard listening url=http://%s:%d/", self.config.host, self.port)

    def step(self, now: datetime) -> float | None:
        if self.listener is not None:
            self.listener.check()
        if self._last_prune is None or now - self._last_prune >= PRUNE_EVERY:
            removed = auth.prune(self.conn, now)
            if removed:
                log.info("pruned expired sessions and old login failures rows=%d", removed)
            self._last_prune = now
        return self.alerter.step(now)

    def stop(self) -> None:
        # The hub first: it ends every open stream, so uvicorn is not left waiting for them to
        # close (it stops the hub again at lifespan shutdown; stopping twice is harmless).
        if hasattr(self, "app"):
            self.app.state.hub.stop()
        if self.listener is not None:
            self.listener.stop()

    def info(self) -> dict[str, Any]:
        requests = self.app.state.dashd.requests if hasattr(self, "app") else 0
        return {"listen": f"{self.config.host}:{self.port}", "requests": requests}


def main(argv: list[str] | None = None) -> int:
    cfg = config.load(argv)
    return run_daemon(cfg, SCHEMAS, lambda conn: Daemon(conn, cfg))


if __name__ == "__main__":
    sys.exit(main())
