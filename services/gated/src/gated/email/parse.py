"""Parsing one raw mail (stdlib `email`, policy `default`) into a `ParsedMail`: decoded headers,
the prompt text (quoted history and signature stripped), the full body, attachment facts.

Pure and total: any byte string gives a `ParsedMail` (broken parts degrade to empty text)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Final

from store import validate

from gated.email.htmltext import html_to_text

MAX_ID_CHARS: Final = 250
MAX_SUBJECT_CHARS: Final = 500
MAX_ATTACHMENTS: Final = 50
MAX_REFERENCES: Final = 50
# A message id: no whitespace, control characters or lone surrogates (from undecodable bytes).
MSGID_RE: Final = re.compile("<[^<>\\s\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,998}>")
# A whole address: always fullmatch() (`$` would let a trailing newline through).
ADDRESS_RE: Final = re.compile(
    r"[^@\s\x00-\x1f\x7f<>(),;:\"]{1,64}@[^@\s\x00-\x1f\x7f<>(),;:\"]{1,190}"
)
SYNTH_DOMAIN: Final = "synthesized.switchboard.invalid"
# Headers the loop rules look at (lower-case names).
LOOP_HEADERS: Final = (
    "auto-submitted",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "return-path",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
)
# A line that starts the quoted history ("On Mon, Bob <b@x> wrote:", Outlook, ...).
ATTRIBUTION_RE: Final = re.compile(
    r"^\s*(on\b.{0,200}\bwrote:?|le\b.{0,200}\ba écrit\s*:?|am\b.{0,200}\bschrieb\b.{0,40}:?"
    r"|el\b.{0,200}\bescribió:?|-{2,}\s*original message\s*-{2,}|-{2,}\s*forwarded message\s*-{2,}"
    r"|_{8,}\s*)$",
    re.IGNORECASE,
)
OUTLOOK_HEADER_RE: Final = re.compile(r"^\s*(from|von|de):\s.+$", re.IGNORECASE)
SIGNATURE_RE: Final = re.compile(r"^(-- ?|--|sent from my \w+.*|get outlook for \w+.*)$", re.I)


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    type: str
    size: int


@dataclass(frozen=True, slots=True)
class ParsedMail:
    """What gated needs from one mail; all strings are single-line except the bodies."""

    message_id: str  # "<...>", synthesized from the content hash when the mail has none
    synthesized_id: bool
    from_addr: str  # lower-cased bare address, "" when unusable
    from_name: str
    to_addrs: tuple[str, ...]
    subject: str
    date: datetime | None
    in_reply_to: str | None
    references: tuple[str, ...]
    text: str  # prompt content: the new text without quoted history or signature
    full_body: str  # the whole decoded body text
    content_type: str
    attachments: tuple[Attachment, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)  # LOOP_HEADERS present, raw values
    size: int = 0

    @property
    def chat_jid(self) -> str:
        return f"email:{self.from_addr or 'unknown'}"


def valid_unicode(value: str) -> str:
    """Undo surrogate escapes of undecodable 8-bit bytes (SQLite stores only valid UTF-8)."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        pass
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = value.encode("utf-8", "surrogatepass")
    return data.decode("utf-8", "replace")


def single_line(value: str, limit: int = MAX_SUBJECT_CHARS) -> str:
    """Collapse whitespace and drop control characters, line separators and bidi overrides
    (header values are one line, and the store refuses those in names)."""
    value = valid_unicode(value)
    value = validate.CONTROL_RE.sub(" ", value)
    return re.sub(r"\s+", " ", value).strip()[:limit]


def _raw_headers(msg: Message) -> list[tuple[str, str]]:
    return [(k.lower(), str(v)) for k, v in msg.raw_items()]


def _first_raw(headers: list[tuple[str, str]], name: str) -> str | None:
    for k, v in headers:
        if k == name:
            return v
    return None


def decode_words(raw: str) -> str:
    """Decode RFC 2047 encoded words; undecodable pieces are kept as they are."""
    try:
        return str(make_header(decode_header(raw)))
    except (LookupError, ValueError, UnicodeError, AssertionError, TypeError):
        return raw


def _address(raw: str | None) -> tuple[str, str]:
    if not raw:
        return "", ""
    try:
        pairs = getaddresses([single_line(raw, 2000)])
    except (ValueError, IndexError, TypeError):
        return "", ""
    for name, addr in pairs:
        addr = addr.strip().lower()
        if ADDRESS_RE.fullmatch(addr):
            return addr, single_line(decode_words(name), 200)
    return "", ""


def _addresses(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    try:
        pairs = getaddresses([single_line(raw, 4000)])
    except (ValueError, IndexError, TypeError):
        return ()
    return tuple(a.strip().lower() for _, a in pairs if ADDRESS_RE.fullmatch(a.strip().lower()))


def message_ids(raw: str | None) -> list[str]:
    """The `<id>` tokens of a Message-ID / In-Reply-To / References value, in order."""
    if not raw:
        return []
    if "=?" in raw:  # some senders (Python's email among them) encode long id lists
        raw = decode_words(raw)
    return [normalize_id(m) for m in MSGID_RE.findall(raw)]


def normalize_id(token: str) -> str:
    """A Message-ID as we store it: `<...>`, at most MAX_ID_CHARS (longer ones are hashed)."""
    token = token.strip()
    if len(token) > MAX_ID_CHARS:
        return f"<{hashlib.sha256(token.encode('utf-8', 'replace')).hexdigest()}@long-id.invalid>"
    return token


def _trimmed(refs: list[str]) -> tuple[str, ...]:
    """References kept: the root (it names the thread) and the latest MAX_REFERENCES - 1."""
    if len(refs) > MAX_REFERENCES:
        refs = [refs[0], *refs[-(MAX_REFERENCES - 1) :]]
    return tuple(refs)


def _synthesized_id(raw: bytes, headers: list[tuple[str, str]]) -> str:
    """Stable id for a mail without Message-ID: hash of sender, recipients, date, subject, body.

    Trace headers (Received, Return-Path, Delivered-To) are left out, so the same mail fetched
    again, or delivered to the mailbox twice by a relay, gets the same id."""
    h = hashlib.sha256()
    for name in ("from", "to", "cc", "date", "subject"):
        h.update(
            name.encode() + b"\0" + (_first_raw(headers, name) or "").encode("utf-8", "replace")
        )
    sep = re.search(rb"\r?\n\r?\n", raw)
    h.update(raw[sep.end() :] if sep else b"")
    return f"<{h.hexdigest()[:40]}@{SYNTH_DOMAIN}>"


def _part_text(part: Message) -> str:
    """A text part decoded with its charset; unknown charsets and bad bytes degrade."""
    if isinstance(part, EmailMessage):
        try:
            content = part.get_content()
            if isinstance(content, str):
                return content
        except (LookupError, ValueError, UnicodeError, KeyError, AssertionError, TypeError):
            pass
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, TypeError, AssertionError):
        payload = None
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _body_part(msg: EmailMessage) -> Message | None:
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except (KeyError, ValueError, TypeError, AttributeError, AssertionError):
        part = None
    if part is not None:
        return part
    if not msg.is_multipart() and msg.get_content_maintype() == "text":
        return msg
    return None


def _attachments(msg: EmailMessage, body: Message | None) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    for part in msg.walk():
        if part is body or part.is_multipart() or (part is msg and body is msg):
            continue
        try:
            name = part.get_filename() or ""
        except (ValueError, TypeError, LookupError, AssertionError):
            name = ""
        disposition = part.get_content_disposition()
        ctype = part.get_content_type()
        if not name and disposition != "attachment" and ctype.startswith(("text/", "multipart/")):
            continue  # an alternative rendering of the body, not an attachment
        try:
            payload = part.get_payload(decode=True)
        except (ValueError, TypeError, AssertionError):
            payload = None
        size = len(payload) if isinstance(payload, bytes) else 0
        found.append(Attachment(single_line(decode_words(name), 200), ctype, size))
        if len(found) >= MAX_ATTACHMENTS:
            break
    return tuple(found)


def strip_quotes(body: str) -> str:
    """The new text of a reply: stops at the quoted history or the signature, drops `>` lines.

    Falls back to the whole body when nothing would be left (a mail that is only a quote)."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if SIGNATURE_RE.match(line.rstrip("\n")) or ATTRIBUTION_RE.match(stripped):
            break
        # "On Mon, 1 Jan 2026, Bob <b@example.com>" + "wrote:" wrapped onto the next line
        if (
            stripped.lower().startswith("on ")
            and i + 1 < len(lines)
            and lines[i + 1].strip().lower().endswith("wrote:")
        ):
            break
        # Outlook's plain-text history: a "From: ..." line right after a blank line
        if OUTLOOK_HEADER_RE.match(stripped) and kept and not kept[-1].strip():
            nxt = "\n".join(lines[i + 1 : i + 4]).lower()
            if "sent:" in nxt or "to:" in nxt or "subject:" in nxt or "date:" in nxt:
                break
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    text = "\n".join(kept).strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text or body.strip()


def _date(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        dt = parsedate_to_datetime(single_line(raw, 200))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse one mail as fetched from IMAP (RFC 5322 bytes)."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    headers = _raw_headers(msg)
    ids = message_ids(_first_raw(headers, "message-id"))
    synthesized = not ids
    message_id = ids[0] if ids else _synthesized_id(raw, headers)
    from_addr, from_name = _address(_first_raw(headers, "from"))
    to_addrs = _addresses(_first_raw(headers, "to")) + _addresses(_first_raw(headers, "cc"))
    in_reply = message_ids(_first_raw(headers, "in-reply-to"))
    body_part = _body_part(msg)
    full = ""
    if body_part is not None:
        full = _part_text(body_part)
        if body_part.get_content_subtype() == "html":
            full = html_to_text(full)
    full = valid_unicode(full).replace("\r\n", "\n").replace("\x00", "").strip()
    try:
        ctype = msg.get_content_type()
    except (ValueError, TypeError, AttributeError):
        ctype = "text/plain"
    return ParsedMail(
        message_id=message_id,
        synthesized_id=synthesized,
        from_addr=from_addr,
        from_name=from_name,
        to_addrs=to_addrs,
        subject=single_line(decode_words(_first_raw(headers, "subject") or "")),
        date=_date(_first_raw(headers, "date")),
        in_reply_to=in_reply[0] if in_reply else None,
        references=_trimmed(message_ids(_first_raw(headers, "references"))),
        text=strip_quotes(full) if full else "",
        full_body=full,
        content_type=ctype,
        attachments=_attachments(msg, body_part),
        headers={
            name: single_line(value, 1000)
            for name in LOOP_HEADERS
            if (value := _first_raw(headers, name)) is not None
        },
        size=len(raw),
    )
