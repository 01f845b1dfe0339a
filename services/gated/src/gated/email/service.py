"""`EmailChannel`: gated's email channel. `run(stop)` is the inbound thread (IMAP -> store, one
transaction per mail, reconnecting with back-off on any error); `sender()` is the SMTP side
for the delivery worker (`senders["email"]`)."""

from __future__ import annotations

import imaplib
import logging
import sqlite3
import threading
from typing import Any, Final

import store

from gated.config import EmailConfig, GatedConfig
from gated.email.imap import Cursor, Mailbox, cursor_key, today_iso
from gated.email.ingest import ingest_mail
from gated.email.parse import parse_mail
from gated.email.smtp import SmtpSender
from gated.migrations import MIGRATIONS
from gated.senders import ChannelSender

log = logging.getLogger(__name__)

BACKOFF_MIN_S: Final = 0.5
BACKOFF_MAX_S: Final = 30.0


class EmailChannel:
    """The email channel of one gated process (enabled when `cfg.email` is set)."""

    def __init__(self, cfg: GatedConfig) -> None:
        if cfg.email is None:
            raise ValueError("email channel needs cfg.email (set --imap-host and --email-address)")
        self.cfg = cfg
        self.email: EmailConfig = cfg.email
        self._sender = SmtpSender(cfg)
        self._status: dict[str, Any] = {"connected": False, "last_error": None, "stored": 0}
        self._lock = threading.Lock()

    def sender(self) -> ChannelSender:
        return self._sender

    def status(self) -> dict[str, Any]:
        """For gated's heartbeat info: connected, idle, last error, mails stored."""
        with self._lock:
            return dict(self._status)

    def _set(self, **values: Any) -> None:
        with self._lock:
            self._status.update(values)

    def run(self, stop: threading.Event) -> None:
        """Read mail until `stop` is set; never raises (errors are logged, then reconnect)."""
        conn = store.open(self.cfg.db)
        try:
            store.migrate_service(conn, "gated", MIGRATIONS)
            delay = BACKOFF_MIN_S
            while not stop.is_set():
                mailbox = Mailbox(self.email)
                try:
                    mailbox.connect()
                    self._set(
                        connected=True,
                        idle=mailbox.can_idle,
                        uidvalidity=mailbox.uidvalidity,
                        last_error=None,
                    )
                    delay = BACKOFF_MIN_S
                    first = True
                    while not stop.is_set():
                        self.sync(conn, mailbox, first_pass=first)
                        first = False
                        mailbox.wait_for_mail(stop, self.email.poll_s)
                except Exception as exc:  # any network or protocol error: reconnect later
                    log.warning(
                        "imap error host=%s retry_in=%.1fs error=%s: %s",
                        self.email.imap_host,
                        delay,
                        type(exc).__name__,
                        exc,
                        exc_info=not isinstance(exc, OSError | imaplib.IMAP4.error),
                    )
                    self._set(connected=False, last_error=f"{type(exc).__name__}: {exc}")
                finally:
                    mailbox.close()
                if stop.wait(delay):
                    break
                delay = min(BACKOFF_MAX_S, delay * 2)
        finally:
            self._set(connected=False)
            conn.close()
            log.info("email channel stopped")

    def sync(self, conn: sqlite3.Connection, mailbox: Mailbox, *, first_pass: bool) -> int:
        """Store every mail not read yet; returns how many new messages were stored."""
        key = cursor_key(self.email)
        cursor = Cursor.load(store.get_state(conn, key))
        uids = mailbox.pending_uids(cursor, first_pass)
        same = cursor is not None and cursor.uidvalidity == mailbox.uidvalidity
        last = cursor.last_uid if cursor is not None and same else 0
        if first_pass and not same:
            # A new UIDVALIDITY (or a first start): old UIDs mean nothing now. Start the cursor
            # at the folder's end; the pending list above already holds what must be read.
            last = max(0, mailbox.uidnext - 1)
            store.set_state(conn, key, Cursor(mailbox.uidvalidity, last, today_iso()).dump())
        stored = 0
        done: list[int] = []
        for uid, raw in mailbox.fetch(uids):
            last = max(last, uid)
            new_cursor = Cursor(mailbox.uidvalidity, last, today_iso()).dump()
            try:
                mail = parse_mail(raw)
                result = ingest_mail(
                    conn, self.email, mail, now=store.utcnow(), cursor=(key, new_cursor)
                )
            except store.InvalidInput as exc:
                log.error("mail uid=%d cannot be stored, skipped: %s", uid, exc)
                store.set_state(conn, key, new_cursor)
                continue
            done.append(uid)
            if not result.duplicate:
                stored += 1
        mailbox.mark_seen(done)
        if stored:
            with self._lock:
                self._status["stored"] = int(self._status["stored"]) + stored
                self._status["last_mail_at"] = store.now_iso()
        self._set(synced_at=store.now_iso(), last_uid=last, uidvalidity=mailbox.uidvalidity)
        return stored
