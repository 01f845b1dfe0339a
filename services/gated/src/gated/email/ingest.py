"""Storing one fetched mail: the message row (verb `message`, or `ignored` per the loop rules),
its `email_threads` row and the IMAP cursor, all in one short transaction."""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import store
from daemonkit import tracing
from store import bus
from store.rates import received_since

from gated.config import EmailConfig
from gated.email.loops import ignore_reason, over_rate, rate_window_start
from gated.email.parse import ParsedMail
from gated.email.threading import base_subject, thread_root
from gated.email.threads import note_message

log = logging.getLogger(__name__)

SOURCE: Final = "email"
MAX_CONTENT_CHARS: Final = 40_000  # x 4 bytes (worst UTF-8) stays under the store limit
MAX_ATTACHMENTS_JSON: Final = 60_000
META_NAME: Final = "email"  # the attachments entry holding the mail's headers and full body


@dataclass(frozen=True, slots=True)
class Ingested:
    seq: int
    duplicate: bool
    ignored: str | None  # the loop/abuse rule that kept it from agents


def prompt_content(mail: ParsedMail) -> str:
    """The message content agents see: the new text, else a note with the subject."""
    text = mail.text.strip()
    if not text:
        text = f"(no text) Subject: {mail.subject}" if mail.subject else "(empty mail)"
    if len(text) > MAX_CONTENT_CHARS:
        text = text[:MAX_CONTENT_CHARS] + "\n[... truncated]"
    return text


def email_meta(mail: ParsedMail, thread_id: str, ignored: str | None) -> dict[str, Any]:
    """The `email` attachments entry: threading headers, ignore reason, full body (trimmed)."""
    meta: dict[str, Any] = {
        "name": META_NAME,
        "type": "message/rfc822",
        "size": mail.size,
        "message_id": mail.message_id,
        "thread_id": thread_id,
        "in_reply_to": mail.in_reply_to,
        "references": list(mail.references),
        "subject": mail.subject,
        "from": mail.from_addr,
        "date": store.iso(mail.date) if mail.date else None,
        "ignored": ignored,
        "full_body": mail.full_body,
    }
    return meta


def attachments_json(mail: ParsedMail, meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Attachment facts + the meta entry, with the full body shortened to fit the size cap."""
    items: list[dict[str, Any]] = [
        {"name": a.name, "type": a.type, "size": a.size} for a in mail.attachments
    ]
    body = str(meta["full_body"])
    refs = list(meta["references"])
    while True:
        entry = {**meta, "full_body": body, "references": refs}
        if len(json.dumps([*items, entry])) <= MAX_ATTACHMENTS_JSON:
            return [*items, entry]
        if body:
            body = body[: len(body) // 2]
        elif items:
            items.pop()
        elif len(refs) > 2:
            refs = [refs[0], refs[-1]]  # the root and the parent are what threading needs
        else:
            return [{**entry, "subject": str(entry["subject"])[:200]}]


def find_meta(attachments: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The `email` entry of a stored message's attachments, if it came in by email."""
    for entry in attachments:
        if isinstance(entry, dict) and entry.get("name") == META_NAME and "message_id" in entry:
            return entry
    return None


def ingest_mail(
    conn: sqlite3.Connection,
    cfg: EmailConfig,
    mail: ParsedMail,
    *,
    now: datetime,
    cursor: tuple[str, str] | None = None,
) -> Ingested:
    """Store one mail (idempotent on chat_jid + Message-ID) and move the cursor, atomically."""
    thread_id = thread_root(mail.message_id, mail.in_reply_to, mail.references)
    chat_jid = mail.chat_jid
    with store.tx(conn):
        reason = ignore_reason(mail, cfg.address)
        if reason is None and store.find_message(conn, chat_jid, mail.message_id) is None:
            recent = received_since(conn, chat_jid, store.iso(rate_window_start(now)))
            if over_rate(recent, cfg.replies_per_hour):
                reason = "rate-limit"
        meta = email_meta(mail, thread_id, reason)
        span = tracing.start("gated.ingest", kind="server", attributes={"channel": SOURCE})
        result = store.put_message(
            conn,
            store.NewMessage(
                id=mail.message_id,
                chat_jid=chat_jid,
                content=prompt_content(mail),
                sender=mail.from_addr,
                sender_name=mail.from_name,
                timestamp=store.iso(now),
                verb=bus.IGNORED if reason else bus.MESSAGE,
                source=SOURCE,
                reply_to_id=mail.in_reply_to,
                attachments=attachments_json(mail, meta),
                chat_name=mail.from_name or mail.from_addr,
                traceparent=tracing.traceparent(span),
            ),
        )
        tracing.end(span, attributes={"duplicate": result.duplicate})
        if not result.duplicate and reason is None:
            note_message(
                conn,
                thread_id=thread_id,
                chat_jid=chat_jid,
                subject=base_subject(mail.subject),
                message_id=mail.message_id,
                references=mail.references,
                now=store.iso(now),
            )
        if cursor is not None:
            store.set_state(conn, cursor[0], cursor[1])
    if result.duplicate:
        log.debug("mail already stored chat=%s id=%s", chat_jid, mail.message_id)
    elif reason:
        log.info("mail stored, not answered chat=%s seq=%d reason=%s", chat_jid, result.seq, reason)
    else:
        log.info("mail stored chat=%s seq=%d thread=%s", chat_jid, result.seq, thread_id)
    return Ingested(result.seq, result.duplicate, reason)
