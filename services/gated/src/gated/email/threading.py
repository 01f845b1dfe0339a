"""Email reply threading (pure): which thread a mail belongs to, and the headers of our reply
(In-Reply-To, References, one `Re:`, our own Message-ID, Auto-Submitted). Every header value
we build goes through `header_value`, so no CR/LF can reach the wire (no header injection)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Final

OUR_ID_PREFIX: Final = "<switchboard."
# Keep the root and the most recent ids: RFC 5322 allows trimming, clients thread fine.
MAX_REFERENCES: Final = 20
REPLY_PREFIX_RE: Final = re.compile(
    r"^\s*((re|aw|sv|antw|ref|vs|r)\s*(\[\d+\]|\(\d+\))?\s*:\s*)+", re.IGNORECASE
)


def header_value(value: str, limit: int = 900) -> str:
    """A header value safe to emit: no CR, LF or other control characters, bounded length."""
    cleaned = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in value)
    return re.sub(r"\s+", " ", cleaned).strip()[:limit]


def thread_root(message_id: str, in_reply_to: str | None, references: Sequence[str]) -> str:
    """The thread of a mail: first References entry, else In-Reply-To, else its own id."""
    if references:
        return references[0]
    if in_reply_to:
        return in_reply_to
    return message_id


def base_subject(subject: str) -> str:
    """The subject without any leading reply prefixes (`Re:`, `RE[2]:`, `Aw:`, `Re: Re:`)."""
    return REPLY_PREFIX_RE.sub("", header_value(subject)).strip()


def reply_subject(subject: str) -> str:
    """`Re: ` + the original subject, exactly once."""
    base = base_subject(subject)
    return f"Re: {base}" if base else "Re: your message"


def reply_references(parent_references: Sequence[str], parent_id: str) -> list[str]:
    """References of a reply: the parent's references + the parent, deduplicated, trimmed."""
    refs: list[str] = []
    for ref in [*parent_references, parent_id]:
        ref = header_value(ref, 998)
        if ref and ref not in refs:
            refs.append(ref)
    if len(refs) > MAX_REFERENCES:
        refs = [refs[0], *refs[-(MAX_REFERENCES - 1) :]]
    return refs


def our_message_id(seed: str, domain: str) -> str:
    """Our Message-ID for an outbound message; stable per seed, so a retried send keeps it."""
    token = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:32]
    return f"{OUR_ID_PREFIX}{token}@{header_value(domain, 200)}>"


def is_our_message_id(message_id: str, domain: str) -> bool:
    """True for ids made by `our_message_id` on our domain."""
    return message_id.lower().startswith(OUR_ID_PREFIX) and message_id.lower().endswith(
        f"@{domain.lower()}>"
    )


def build_reply(
    *,
    from_addr: str,
    from_name: str,
    to_addr: str,
    subject: str,
    body: str,
    message_id: str,
    in_reply_to: str | None,
    references: Sequence[str],
    date: datetime,
) -> EmailMessage:
    """The reply mail: text/plain UTF-8 with threading and auto-reply headers."""
    # Fold at the RFC 5322 hard limit: at 78 columns a long Message-ID would be turned into
    # an encoded word, which mail clients do not thread on.
    msg = EmailMessage(policy=policy.default.clone(max_line_length=998))
    msg["From"] = formataddr((header_value(from_name, 200), header_value(from_addr, 254)))
    msg["To"] = header_value(to_addr, 254)
    msg["Subject"] = header_value(subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = header_value(message_id, 998)
    if in_reply_to:
        msg["In-Reply-To"] = header_value(in_reply_to, 998)
    refs = [header_value(r, 998) for r in references if header_value(r, 998)]
    if refs:
        msg["References"] = " ".join(refs)
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(body if body.endswith("\n") else body + "\n", charset="utf-8")
    return msg
