"""onbod: onboarding of unknown chats. Follows new messages by its own cursor and, for chats
without a registered group, asks for a world name and queues the request for an operator."""

from __future__ import annotations

import logging
import sqlite3
import sys
from datetime import datetime
from typing import Any, Final

import store
from daemonkit.listener import HttpListener
from daemonkit.metrics import serve_metrics
from daemonkit.runner import run_daemon
from store import bus

from onbod import __version__, config, migrations, records
from onbod.config import build_parser
from onbod.intake import Intake
from onbod.metrics import OnbodMetrics

__all__ = ["Daemon", "build_parser", "main"]

log = logging.getLogger(__name__)

SCHEMAS: Final[store.Schemas] = {"onbod": migrations.MIGRATIONS}

BATCH = 500


def read_cursor(conn: sqlite3.Connection) -> int:
    return int(store.get_state(conn, bus.ONBOARDING_CURSOR, "0") or "0")


class Daemon:
    """The Service the Runner drives: one pass over the new messages per step."""

    name = "onbod"
    version = __version__

    def __init__(self, conn: sqlite3.Connection, settings: config.Config) -> None:
        self.conn = conn
        self.config = settings
        self.intake = Intake(conn, settings)
        self.handled = 0
        self.metrics = OnbodMetrics(settings.db_path)
        self.metrics_listener: HttpListener | None = None

    def start(self) -> None:
        log.info("onbod policy=%s cursor=%d", self.config.policy, read_cursor(self.conn))
        if self.config.metrics_listen is not None:
            self.metrics_listener = serve_metrics(
                "onbod", self.metrics, self.config.metrics_listen, self.config.metrics_token
            )

    def step(self, now: datetime) -> float | None:
        """Handle every new message of an unregistered chat; each one in its own transaction
        together with the cursor, so a restart neither repeats nor loses one."""
        if self.metrics_listener is not None:
            self.metrics_listener.check()
        batch = store.new_messages(self.conn, read_cursor(self.conn), limit=BATCH)
        passed = 0
        wait: float | None = 0.0 if len(batch) == BATCH else None
        for msg in batch:
            if msg.is_from_me or msg.verb in bus.UNANSWERED_VERBS or self._registered(msg.chat_jid):
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
            store.set_state(self.conn, bus.ONBOARDING_CURSOR, str(seq))
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
        if self.metrics_listener is not None:
            self.metrics_listener.stop()
        self.metrics.close()

    def info(self) -> dict[str, Any]:
        return {
            "policy": self.config.policy,
            "cursor": read_cursor(self.conn),
            "handled": self.handled,
            "onboarding": records.counts(self.conn),
        }


def main(argv: list[str] | None = None) -> int:
    cfg = config.load(argv)
    return run_daemon(cfg, SCHEMAS, lambda conn: Daemon(conn, cfg))


if __name__ == "__main__":
    sys.exit(main())
