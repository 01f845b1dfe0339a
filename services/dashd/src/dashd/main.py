"""Entry point of the dashd daemon: migrates dashd's tables, serves the dashboard with uvicorn
in a thread, and heartbeats through the shared `Runner` life cycle."""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from datetime import datetime, timedelta
from typing import Any, Final

import store
from daemonkit import settings
from daemonkit.flags import add_common_args, db_path_from
from daemonkit.listener import HttpListener
from daemonkit.logs import setup_logging
from daemonkit.runner import Runner

from dashd import __version__, auth
from dashd.app import create_app
from dashd.config import Config, add_args, config_from
from dashd.errors import DashdError
from dashd.migrations import MIGRATIONS

log = logging.getLogger(__name__)

PRUNE_EVERY: Final = timedelta(hours=1)


class Daemon:
    name = "dashd"
    version = __version__

    def __init__(self, conn: sqlite3.Connection, config: Config) -> None:
        self.conn = conn
        self.config = config
        self.listener: HttpListener | None = None
        self.port = config.port
        self._last_prune: datetime | None = None

    def start(self) -> None:
        store.migrate_service(self.conn, self.name, MIGRATIONS)
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
        return None

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.stop()

    def info(self) -> dict[str, Any]:
        requests = self.app.state.dashd.requests if hasattr(self, "app") else 0
        return {"listen": f"{self.config.host}:{self.port}", "requests": requests}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dashd", description="Switchboard's operator dashboard (web UI on --listen)."
    )
    add_common_args(parser)
    add_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = settings.parse_settings(build_parser(), argv)
    setup_logging(args.log_level, args.log_format)
    try:
        config = config_from(args, db_path_from(args))
        conn = store.open(config.db_path)
        return Runner(Daemon(conn, config), conn).run()
    except (DashdError, store.StoreError) as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
