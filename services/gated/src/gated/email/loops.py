"""Loop and abuse rules (pure): which incoming mail must never be answered, and the per-sender
rate limit. Such mail is still stored (verb `ignored`) so it shows in the dashboard."""

from __future__ import annotations

from typing import Final

from gated.email.parse import ParsedMail
from gated.email.threading import is_our_message_id

BULK_PRECEDENCE: Final = frozenset({"bulk", "list", "junk"})
BOUNCE_SENDERS: Final = frozenset({"mailer-daemon", "postmaster"})
BOUNCE_TYPES: Final = frozenset({"multipart/report", "message/delivery-status"})


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
