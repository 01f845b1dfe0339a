"""Input validators shared by every writer: jids, group folders, content, routes, names."""

from __future__ import annotations

import re
from typing import Final, Literal, get_args

from store.errors import InvalidInput

# Characters no single-line text may hold (ids, names, topics): every control character
# (category Cc: C0, DEL and C1, which terminals read as escapes), the line and paragraph
# separators, and the bidi embeddings, overrides and isolates (text that displays reversed).
UNSAFE_TEXT_CHARS: Final = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
# Every other format character (category Cf, Unicode 14: soft hyphen, zero-width spaces and
# joiners, word joiner, BOM, tags...): invisible, so two identifiers that look alike could differ.
# Identifiers (jids, message ids, senders) refuse them too; display names keep them (emoji
# sequences need U+200D). test_validate checks this list against `unicodedata`.
FORMAT_CHARS: Final = (
    r"\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    r"\u2060-\u2064\u206a-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    r"\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    r"\U000e0020-\U000e007f"
)
# Whole values are checked with fullmatch(): `$` would let a trailing newline through.
JID_RE: Final = re.compile(
    rf"[a-z][a-z0-9_-]{{0,31}}:[^\s{UNSAFE_TEXT_CHARS}{FORMAT_CHARS}]{{1,255}}"
)
FOLDER_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# A W3C trace-context `traceparent`, version 00, as daemonkit.tracing writes it.
TRACEPARENT_RE: Final = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
MAX_CONTENT_BYTES: Final = 200_000
MAX_SHORT_TEXT: Final = 512
# One regex scan each, not a Python loop over the characters.
CONTROL_RE: Final = re.compile(f"[{UNSAFE_TEXT_CHARS}]")
INVISIBLE_RE: Final = re.compile(f"[{UNSAFE_TEXT_CHARS}{FORMAT_CHARS}]")

RouteType = Literal["command", "verb", "pattern", "keyword", "sender", "default"]
ROUTE_TYPES: Final[tuple[str, ...]] = get_args(RouteType)


def jid(value: object, field: str = "chat_jid") -> str:
    """A chat jid is `<channel>:<id>`: a lower-case channel name, a colon, no spaces."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, "must be a non-empty string like 'web:demo'")
    if not JID_RE.fullmatch(value):
        raise InvalidInput(
            field,
            f"malformed jid {value[:80]!r}; expected '<channel>:<id>' (the id without spaces, "
            "control or invisible characters)",
        )
    return value


def traceparent(value: object, field: str = "traceparent") -> str:
    """A W3C traceparent: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`."""
    if not isinstance(value, str) or not TRACEPARENT_RE.fullmatch(value):
        raise InvalidInput(field, "not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)")
    return value


def channel_of(chat_jid: str) -> str:
    """The channel part of a jid (`email` for `email:a@b.c`)."""
    return chat_jid.split(":", 1)[0]


def folder(value: object, field: str = "folder") -> str:
    """A group folder is a safe slug: lower-case letters, digits, `-`, `_`; no dots or slashes."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, "must be a non-empty slug like 'demo'")
    if not FOLDER_RE.fullmatch(value):
        raise InvalidInput(
            field,
            f"{value[:80]!r} is not a safe folder name "
            "(use a-z, 0-9, '-', '_'; start with a letter or digit; at most 64)",
        )
    return value


def content(value: object, field: str = "content") -> str:
    """Message content: a non-empty string of at most MAX_CONTENT_BYTES UTF-8 bytes, without
    NUL (PostgreSQL text cannot hold one; refused on both backends alike)."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    if not value.strip():
        raise InvalidInput(field, "must not be empty")
    if "\x00" in value:
        raise InvalidInput(field, "contains a NUL character")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_CONTENT_BYTES:
        raise InvalidInput(field, f"is {size} bytes; the limit is {MAX_CONTENT_BYTES}")
    return value


def short_text(value: object, field: str, *, allow_empty: bool = True) -> str:
    """A short single-line text (ids, names, topics)."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    if not allow_empty and not value:
        raise InvalidInput(field, "must not be empty")
    if len(value) > MAX_SHORT_TEXT:
        raise InvalidInput(field, f"is {len(value)} characters; the limit is {MAX_SHORT_TEXT}")
    bad = CONTROL_RE.search(value)
    if bad:
        raise InvalidInput(
            field, f"must not contain control characters (U+{ord(bad.group()):04X} found)"
        )
    return value


def identifier(value: object, field: str, *, allow_empty: bool = True) -> str:
    """A short text that identifies something (message id, sender): `short_text` without
    invisible format characters either."""
    text = short_text(value, field, allow_empty=allow_empty)
    bad = INVISIBLE_RE.search(text)
    if bad:
        raise InvalidInput(
            field, f"must not contain invisible format characters (U+{ord(bad.group()):04X} found)"
        )
    return text


def route_type(value: object) -> RouteType:
    """One of the route types the gateway knows."""
    if value not in ROUTE_TYPES:
        raise InvalidInput("type", f"unknown route type {value!r}; one of {', '.join(ROUTE_TYPES)}")
    return value  # type: ignore[return-value]


def route_match(kind: RouteType, match: object) -> str:
    """The match text of a route: required except for `default`; a valid regex for `pattern`."""
    text = short_text(match if match is not None else "", "match")
    if kind == "default":
        return text
    if not text:
        raise InvalidInput("match", f"a {kind!r} route needs a match value")
    if kind == "pattern":
        try:
            re.compile(text)
        except re.error as exc:
            raise InvalidInput("match", f"bad regular expression {text!r}: {exc}") from exc
    return text
