"""`log_safe()`: a value from outside (a request, a mail) made safe to put in one log line."""

from __future__ import annotations

import re
from typing import Final

LOG_VALUE_CHARS: Final = 200
# A value of only these characters is logged as it is; anything else is quoted and escaped.
PLAIN_RE: Final = re.compile(r"[A-Za-z0-9_.:/@+-]*")


def _escape(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char == '"':
        return '\\"'
    if char.isprintable():
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def log_safe(value: object, limit: int = LOG_VALUE_CHARS) -> str:
    """`value` as one log-line token: controls, line breaks, bidi and zero-width characters
    escaped (`\\x1b`, `\\u202e`), quoted when it holds anything but plain characters, cut to
    `limit` characters (then marked with `…`)."""
    text = value if isinstance(value, str) else str(value)
    cut = len(text) > limit
    text = text[:limit]
    if PLAIN_RE.fullmatch(text) and text and not cut:
        return text
    return '"' + "".join(_escape(c) for c in text) + ('…"' if cut else '"')
