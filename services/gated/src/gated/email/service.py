"""`EmailChannel`: gated's email channel. `run(stop)` is the inbound thread, one `step(now)` after
another (IMAP -> store, one transaction per mail, reconnecting with back-off on any error);
`sender()` is the SMTP side for the delivery worker (`senders["email"]`)."""

from __future__ import annotations

import imaplib
import logging
import sqlite3
import threading
from datetime import datetime
from typing import Any, Final

import store
from daemonkit.worker import run_steps

from gated.config import Config, EmailConfig
from gated.email.imap import Cursor, Mailbox, cursor_key, today_iso
from gated.email.ingest import ingest_mail
from gated.email.parse import parse_mail
from gated.email.smtp import SmtpSender
from gated.senders import ChannelSender

log = logging.getLogger(__name__)

BACKOFF_MIN_S: Final = 0.5
BACKOFF_MAX_S: Final = 30.0


class EmailChannel:
    """The email channel of one gated process (enabled when `cfg.email` is set)."""

    def __init__(self, cfg: Config) -> None:
        if cfg.email is None:
            raise ValueError("email channel needs cfg.email (set --imap-host and --email-address)")
        self.cfg = cfg
        self.email: EmailConfig = cfg.email
        self._sender = SmtpSender(cfg)
        self._status: dict[str, Any] = {"connected": False, "last_error": None, "stored": 0}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn: sqlite3.Connection | None = None
        self._mailbox: Mailbox | None = None
        self._first_pass = True
        self._delay = BACKOFF_MIN_S

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
        """Read mail until `stop` is set; never raises (errors are logged, then reconnect).
        The schema is gated's start-up's to apply: this thread only connects."""
        self._stop = stop
        self._conn = store.connect(self.cfg.db)
        try:
            run_steps("email inbound", self.step, stop, idle_s=BACKOFF_MAX_S)
        finally:
            self._drop_mailbox()
            self._set(connected=False)
            self._conn.close()
            self._conn = None
            log.info("email channel stopped")

    def step(self, now: datetime) -> float:
        """Connect when not connected, store what is new, then wait for more mail (IDLE, or a
        poll every `poll_s`); 0 to go on at once, or after any error the seconds to wait before
        reconnecting (from 0.5 doubling to 30 while it keeps failing)."""
        conn = self._conn
        if conn is None:
            raise RuntimeError("EmailChannel.step runs inside run(stop)")
        try:
            if self._mailbox is None:
                self._mailbox = Mailbox(self.email)
                self._mailbox.connect()
                self._set(
                    connected=True,
                    idle=self._mailbox.can_idle,
                    uidvalidity=self._mailbox.uidvalidity,
                    last_error=None,
                )
                self._delay = BACKOFF_MIN_S
                self._first_pass = True
            self.sync(conn, self._mailbox, first_pass=self._first_pass)
            self._first_pass = False
            self._mailbox.wait_for_mail(self._stop, self.email.poll_s)
            return 0.0
        except Exception as exc:  # any network or protocol error: reconnect later
            log.warning(
                "imap error host=%s retry_in=%.1fs error=%s: %s",
                self.email.imap_host,
                self._delay,
                type(exc).__name__,
                exc,
                exc_info=not isinstance(exc, OSError | imaplib.IMAP4.error),
            )
            self._set(connected=False, last_error=f"{type(exc).__name__}: {exc}")
            self._drop_mailbox()
            delay, self._delay = self._delay, min(BACKOFF_MAX_S, self._delay * 2)
            return delay

    def _drop_mailbox(self) -> None:
        if self._mailbox is not None:
            self._mailbox.close()
            self._mailbox = None

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
