"""Entry point of the timed daemon: the store's Runner heartbeats and re-arms the alarm on every
database change; the APScheduler alarm fires due tasks (see timed.alarm and docs/timed.md)."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import store
from daemonkit import settings
from daemonkit.flags import add_common_args, db_path_from
from daemonkit.logs import setup_logging
from daemonkit.runner import Runner

from timed import __version__
from timed.alarm import Alarm
from timed.api import this_process
from timed.firing import DEFAULT_BATCH
from timed.migrations import MIGRATIONS


@dataclass(frozen=True, slots=True)
class Config:
    db_path: str
    batch: int


class Daemon:
    name = "timed"
    version = __version__

    def __init__(self, conn: sqlite3.Connection, config: Config) -> None:
        self.conn = conn
        self.config = config
        self.alarm = Alarm(config.db_path, fired_by=this_process(), batch=config.batch)

    def start(self) -> None:
        store.migrate_service(self.conn, self.name, MIGRATIONS)
        self.alarm.start()
        self.alarm.sync(self.conn)

    def step(self, now: datetime) -> float | None:
        # Called after every commit seen and at least once a second: cheap MIN(next_run).
        self.alarm.sync(self.conn)
        return None

    def stop(self) -> None:
        self.alarm.stop()

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), **self.alarm.info()}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="timed",
        description="Switchboard scheduler: posts cron, interval and one-shot task prompts into "
        "their chats, each slot exactly once (see docs/timed.md).",
    )
    add_common_args(parser)
    settings.add_setting(
        parser,
        "--batch-size",
        env="SWITCHBOARD_TIMED_BATCH",
        parse=settings.integer(1, 100_000),
        default=DEFAULT_BATCH,
        help=f"due tasks handled per transaction; default {DEFAULT_BATCH}",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = settings.parse_settings(build_parser(), argv)
    setup_logging(args.log_level, args.log_format)
    db_path = db_path_from(args)
    conn = store.open(db_path)
    return Runner(Daemon(conn, Config(db_path=db_path, batch=args.batch_size)), conn).run()


if __name__ == "__main__":
    sys.exit(main())
