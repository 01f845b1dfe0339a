"""Entry point of the gated daemon (skeleton: opens the store, migrates, heartbeats)."""

from __future__ import annotations

import argparse
import sqlite3
from datetime import datetime
from typing import Any

import store
from store.daemon import Runner, add_common_args, db_path_from, setup_logging

from gated import __version__
from gated.migrations import MIGRATIONS


class Daemon:
    name = "gated"
    version = __version__

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def start(self) -> None:
        store.migrate_service(self.conn, self.name, MIGRATIONS)

    def step(self, now: datetime) -> float | None:
        return None

    def stop(self) -> None:
        pass

    def info(self) -> dict[str, Any]:
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gated", description=__doc__)
    add_common_args(parser)
    args = parser.parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    conn = store.open(db_path_from(args))
    return Runner(Daemon(conn), conn).run()
