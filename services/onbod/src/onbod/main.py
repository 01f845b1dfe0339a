"""onbod: onboarding of unknown chats. Follows new messages by its own cursor and, for chats
without a registered group, asks for a world name and queues the request for an operator."""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from datetime import datetime
from typing import Any

import store
from daemonkit.flags import add_common_args, db_path_from
from daemonkit.logs import setup_logging
from daemonkit.runner import Runner
from daemonkit.settings import parse_settings

from onbod import __version__, config, records
from onbod.intake import Intake
from onbod.migrations import MIGRATIONS

log = logging.getLogger(__name__)

# Stored but never answered: mail the email channel's loop rules stopped (auto-replies, bulk,
# bounces). Greeting such a sender would only feed a loop.
SKIPPED_VERBS = frozenset({"ignored"})

CURSOR_KEY = "onbod:cursor"
BATCH = 500


def read_cursor(conn: sqlite3.Connection) -> int:
    return int(store.get_state(conn, CURSOR_KEY, "0") or "0")


class Daemon:
    name = "onbod"
    version = __version__

    def __init__(self, conn: sqlite3.Connection, settings: config.Config) -> None:
        self.conn = conn
        self.config = settings
        self.intake = Intake(conn, settings)
        self.handled = 0

    def start(self) -> None:
        store.migrate_service(self.conn, self.name, MIGRATIONS)
        log.info("onbod policy=%s cursor=%d", self.config.policy, read_cursor(self.conn))

    def step(self, now: datetime) -> float | None:
        """Handle every new message of an unregistered chat; each one in its own transaction
        together with the cursor, so a restart neither repeats nor loses one."""
        batch = store.new_messages(self.conn, read_cursor(self.conn), limit=BATCH)
        passed = 0
        wait: float | None = 0.0 if len(batch) == BATCH else None
        for msg in batch:
            if msg.is_from_me or msg.verb in SKIPPED_VERBS or self._registered(msg.chat_jid):
                passed = msg.seq
                continue
            self._handle(msg, now)
            passed = 0
        if passed:
            self._advance(passed)
        return wait

    def _registered(self, jid: str) -> bool:
        return store.is_registered(self.conn, jid)

    def _advance(self, seq: int) -> bool:
        """Move the cursor to `seq` unless another onbod already passed it (inside a tx)."""
        with store.tx(self.conn):
            if read_cursor(self.conn) >= seq:
                return False
            store.set_state(self.conn, CURSOR_KEY, str(seq))
            return True

    def _handle(self, msg: store.Message, now: datetime) -> None:
        try:
            with store.tx(self.conn):
                if not self._advance(msg.seq):
                    return
                outcome = self.intake.handle(msg, now)
        except sqlite3.OperationalError:
            raise  # the database is unwell: retry this message on the next step
        except Exception:
            log.exception("cannot handle message; skipping it jid=%s seq=%d", msg.chat_jid, msg.seq)
            self._advance(msg.seq)
            return
        self.handled += 1
        log.info("jid=%s seq=%d %s", msg.chat_jid, msg.seq, outcome)

    def stop(self) -> None:
        pass

    def info(self) -> dict[str, Any]:
        return {
            "policy": self.config.policy,
            "cursor": read_cursor(self.conn),
            "handled": self.handled,
            "onboarding": records.counts(self.conn),
        }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onbod", description=__doc__)
    add_common_args(parser)
    config.add_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_settings(build_parser(), argv)
    setup_logging(args.log_level, args.log_format)
    settings = config.from_args(args)
    conn = store.open(db_path_from(args))
    return Runner(Daemon(conn, settings), conn).run()


if __name__ == "__main__":
    sys.exit(main())
