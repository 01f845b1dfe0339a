"""`SmtpSender`: the email channel's `ChannelSender`. Builds the threaded reply for an outbox item
and sends it with smtplib; failures become `DeliveryError` (permanent for 5xx replies), so the
delivery worker's retries, back-off and dead-lettering apply to email too."""

from __future__ import annotations

import logging
import smtplib
import sqlite3
import ssl
from datetime import datetime
from email.message import EmailMessage
from typing import Final

import store
from store import bus
from store.rates import has_received, sent_since

from gated.attachments import stored_files
from gated.config import Config, EmailConfig
from gated.email.imap import PlainTextRefused, require_tls_unless_local
from gated.email.ingest import find_meta
from gated.email.loops import ReplyFacts, rate_window_start, reply_refusal
from gated.email.parse import ADDRESS_RE
from gated.email.threading import (
    base_subject,
    build_reply,
    our_message_id,
    reply_references,
    reply_subject,
)
from gated.email.threads import get_thread, latest_thread, note_message
from gated.errors import DeliveryError

log = logging.getLogger(__name__)

TIMEOUT_S: Final = 30.0
FROM_NAME: Final = "Switchboard"
NEW_THREAD_SUBJECT: Final = "Message from Switchboard"


def open_smtp(cfg: EmailConfig, timeout: float = TIMEOUT_S) -> smtplib.SMTP:
    """A connected (and, with a user configured, logged-in) SMTP session."""
    require_tls_unless_local("smtp", cfg.smtp_tls, cfg.smtp_host)
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if cfg.smtp_tls == "ssl":
        smtp = smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=timeout)
    try:
        smtp.ehlo()
        if cfg.smtp_tls == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if cfg.smtp_user:
            smtp.login(cfg.smtp_user, cfg.smtp_password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def delivery_error(exc: Exception) -> DeliveryError:
    """Map an smtplib/network failure: 5xx replies are permanent, everything else retryable."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        permanent = bool(codes) and all(code >= 500 for code in codes)
        return DeliveryError(f"smtp recipients refused: {exc.recipients}", permanent=permanent)
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return DeliveryError(f"smtp {exc.smtp_code}: {detail}", permanent=exc.smtp_code >= 500)
    if isinstance(exc, smtplib.SMTPNotSupportedError | PlainTextRefused):
        return DeliveryError(f"smtp configuration: {exc}", permanent=True)
    return DeliveryError(f"smtp {type(exc).__name__}: {exc}", permanent=False)


def attach_files(msg: EmailMessage, conn: sqlite3.Connection, item: store.OutboxItem) -> None:
    """The item's stored files as MIME parts of the mail."""
    for entry, data in stored_files(conn, item):
        maintype, _, subtype = str(entry.get("type") or "").partition("/")
        if not maintype or not subtype:
            maintype, subtype = "application", "octet-stream"
        name = str(entry.get("name") or "file")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)


class SmtpSender:
    """Sends `email:` outbox items as replies in the right thread."""

    def __init__(self, cfg: Config) -> None:
        if cfg.email is None:
            raise ValueError("SmtpSender needs cfg.email")
        self.db = cfg.db
        self.email: EmailConfig = cfg.email
        self.domain = self.email.address.rpartition("@")[2]
        self._conns = store.ThreadConnections(self.db)

    def _conn(self) -> sqlite3.Connection:
        return self._conns.get()

    def compose(self, item: store.OutboxItem, now: datetime) -> tuple[EmailMessage, str, str]:
        """The reply mail for an item, its recipient and its thread id (no network)."""
        channel, _, to_addr = item.chat_jid.partition(":")
        to_addr = to_addr.lower()
        if channel != "email" or not ADDRESS_RE.fullmatch(to_addr):
            raise DeliveryError(
                f"chat_jid {item.chat_jid!r} is not an email address", permanent=True
            )
        conn = self._conn()
        parent = (
            store.find_message(conn, item.chat_jid, item.reply_to_id) if item.reply_to_id else None
        )
        since = store.iso(rate_window_start(now))
        facts = ReplyFacts(
            chat_jid=item.chat_jid,
            to_addr=to_addr,
            reply_to_id=item.reply_to_id,
            parent_ignored=parent is not None and parent.verb == bus.IGNORED,
            ever_answerable=has_received(conn, item.chat_jid),
            ever_automatic=has_received(conn, item.chat_jid, bus.IGNORED),
            sent_in_window=sent_since(conn, item.chat_jid, since),
        )
        refusal = reply_refusal(
            facts, our_address=self.email.address, replies_per_hour=self.email.replies_per_hour
        )
        if refusal is not None:
            raise DeliveryError(refusal, permanent=True)
        message_id = our_message_id(f"{item.chat_jid}\0{item.id}", self.domain)
        # Threading facts come from email_threads only; the parent's mail just says which row.
        meta = find_meta(parent.attachments) if parent is not None else None
        thread = get_thread(conn, str(meta.get("thread_id") or "")) if meta else None
        if thread is not None and parent is not None:
            in_reply_to: str | None = parent.id  # its Message-ID
        else:
            thread = latest_thread(conn, item.chat_jid)
            in_reply_to = thread.last_message_id if thread is not None else None
        if thread is not None and in_reply_to is not None:
            thread_id, subject = thread.thread_id, reply_subject(thread.subject)
            refs = reply_references([r for r in thread.references if r != in_reply_to], in_reply_to)
        else:
            thread_id, subject, refs = message_id, NEW_THREAD_SUBJECT, []
        msg = build_reply(
            from_addr=self.email.address,
            from_name=FROM_NAME,
            to_addr=to_addr,
            subject=subject,
            body=item.content,
            message_id=message_id,
            in_reply_to=in_reply_to,
            references=refs,
            date=now,
        )
        attach_files(msg, conn, item)
        return msg, to_addr, thread_id

    def send(self, item: store.OutboxItem) -> str | None:
        now = store.utcnow()
        msg, to_addr, thread_id = self.compose(item, now)
        try:
            with open_smtp(self.email) as smtp:
                smtp.send_message(msg, from_addr=self.email.address, to_addrs=[to_addr])
        except (smtplib.SMTPException, OSError, PlainTextRefused) as exc:
            raise delivery_error(exc) from exc
        message_id = str(msg["Message-ID"])
        conn = self._conn()
        existing = get_thread(conn, thread_id)
        note_message(
            conn,
            thread_id=thread_id,
            chat_jid=item.chat_jid,
            subject=existing.subject if existing else base_subject(str(msg["Subject"])),
            message_id=message_id,
            references=[r for r in str(msg.get("References", "")).split() if r],
            now=store.now_iso(),
        )
        log.info(
            "email sent seq=%d to=%s thread=%s id=%s", item.seq, to_addr, thread_id, message_id
        )
        return message_id
