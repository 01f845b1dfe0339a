"""Entry point of the dashd daemon: migrates dashd's tables, serves the dashboard with uvicorn
in a thread, and heartbeats through the shared `Runner` life cycle."""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import threading
import time
from datetime import datetime, timedelta
from typing import Any, Final

import store
import uvicorn
from store import settings
from store.daemon import Runner, add_common_args, db_path_from, setup_logging

from dashd import __version__, auth
from dashd.app import create_app
from dashd.config import Config, add_args, config_from
from dashd.errors import DashdError
from dashd.migrations import MIGRATIONS

log = logging.getLogger(__name__)

START_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 10.0
PRUNE_EVERY: Final = timedelta(hours=1)


class Daemon:
    name = "dashd"
    version = __version__

    def __init__(self, conn: sqlite3.Connection, config: Config) -> None:
        self.conn = conn
        self.config = config
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.port = config.port
        self._last_prune: datetime | None = None

    def start(self) -> None:
        store.migrate_service(self.conn, self.name, MIGRATIONS)
        app = create_app(self.config)
        self.app = app
        uv = uvicorn.Config(
            app,
            host=self.config.host,
            port=self.config.port,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
        )
        server = uvicorn.Server(uv)
        self.server = server
        self.thread = threading.Thread(target=server.run, name="dashd-http", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise DashdError(
                    f"listen: could not serve on {self.config.host}:{self.config.port} "
                    "(address in use or not allowed?)"
                )
            time.sleep(0.02)
        sockets = [s for srv in getattr(server, "servers", []) for s in srv.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("dashboard listening url=http://%s:%d/", self.config.host, self.port)

    def step(self, now: datetime) -> float | None:
        if self._last_prune is None or now - self._last_prune >= PRUNE_EVERY:
            removed = auth.prune(self.conn, now)
            if removed:
                log.info("pruned expired sessions and old login failures rows=%d", removed)
            self._last_prune = now
        if self.thread is not None and not self.thread.is_alive():
            # Exit non-zero so the supervisor (systemd, `switchboard up`) restarts us.
            log.error("the HTTP server thread stopped unexpectedly; exiting")
            raise SystemExit(1)
        return None

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(STOP_TIMEOUT_S)

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
