"""Loop and abuse rules (pure): which incoming mail must never be answered (such mail is still
stored, verb `ignored`, so it shows in the dashboard), which outgoing reply must never be sent,
and the per-sender rate limit over `RATE_WINDOW`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from gated.email.parse import ParsedMail
from gated.email.threading import is_our_message_id

BULK_PRECEDENCE: Final = frozenset({"bulk", "list", "junk"})
BOUNCE_SENDERS: Final = frozenset({"mailer-daemon", "postmaster"})
BOUNCE_TYPES: Final = frozenset({"multipart/report", "message/delivery-status"})
RATE_WINDOW: Final = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class ReplyFacts:
    """What the database says about an outgoing reply, gathered at one `now`."""

    chat_jid: str  # `email:<to_addr>`
    to_addr: str  # lower-case
    reply_to_id: str | None
    parent_ignored: bool  # the message answered was stored with verb `ignored`
    ever_answerable: bool  # the chat ever sent us mail that may be answered
    ever_automatic: bool  # the chat ever sent us mail that must not be answered
    sent_in_window: int  # replies to this chat sent since `rate_window_start(now)`


def ignore_reason(mail: ParsedMail, our_address: str) -> str | None:
    """Why this mail must not reach an agent, or None when it may be answered."""
    our_address = our_address.lower()
    domain = our_address.rpartition("@")[2]
    h = mail.headers
    auto = h.get("auto-submitted", "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"auto-submitted:{auto}"
    if h.get("precedence", "").strip().lower() in BULK_PRECEDENCE:
        return f"precedence:{h['precedence'].strip().lower()}"
    if "list-id" in h or "list-unsubscribe" in h:
        return "mailing-list"
    if "x-autoreply" in h or "x-autorespond" in h:
        return "auto-reply"
    if not mail.from_addr:
        return "no-sender"
    if mail.from_addr == our_address:
        return "own-address"
    if is_our_message_id(mail.message_id, domain):
        return "own-message-id"
    if mail.from_addr.partition("@")[0] in BOUNCE_SENDERS:
        return "bounce"
    if "return-path" in h and h["return-path"].strip() in ("<>", ""):
        return "bounce"
    if mail.content_type in BOUNCE_TYPES:
        return "bounce"
    return None


def over_rate(count_last_hour: int, limit: int) -> bool:
    """True when a sender already had `limit` mails answered-or-accepted in the last hour."""
    return limit >= 0 and count_last_hour >= limit


def rate_window_start(now: datetime) -> datetime:
    """The earliest send or receipt that still counts towards the per-sender rate limit."""
    return now - RATE_WINDOW


def reply_refusal(facts: ReplyFacts, *, our_address: str, replies_per_hour: int) -> str | None:
    """Why this reply must never be sent (a loop, a bounce, the rate limit), or None."""
    if facts.to_addr == our_address.lower():
        return f"chat_jid {facts.chat_jid!r} is our own address"
    if facts.parent_ignored:
        return f"reply_to_id {facts.reply_to_id!r} is auto-submitted/bulk mail; never answered"
    if facts.to_addr.partition("@")[0] in BOUNCE_SENDERS:
        return f"chat_jid {facts.chat_jid!r} is a bounce address"
    if facts.ever_automatic and not facts.ever_answerable:
        # Everything this address sent us was automatic: whatever answers it would loop.
        return f"chat_jid {facts.chat_jid!r} only ever sent auto-submitted/bulk mail"
    if over_rate(facts.sent_in_window, replies_per_hour):
        return f"rate limit: {replies_per_hour} replies per hour to {facts.to_addr} reached"
    return None
