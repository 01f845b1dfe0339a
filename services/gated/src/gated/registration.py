"""What a channel registration may say: channel names, jid prefixes, adapter URLs, message
limits, the protocol version and its send secret. Pure checks that raise `store.InvalidInput`
naming the field; no I/O."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

import store

CHANNEL_NAME_PATTERN: Final = r"[a-z][a-z0-9_-]{0,31}"
CHANNEL_NAME_RE: Final = re.compile(CHANNEL_NAME_PATTERN)
# Prefixes gated delivers itself (web: read by dashd, cli: by `switchboard chat`, email: SMTP).
RESERVED_CHANNELS: Final = frozenset({"web", "cli", "email"})
MAX_PREFIXES: Final = 16
MIN_MESSAGE_CHARS: Final = 50
MAX_MESSAGE_CHARS: Final = 100_000
MAX_URL_CHARS: Final = 2000
# A URL is a lower-case scheme, then printable ASCII without spaces: no CR/LF (header
# injection), NUL or tabs.
URL_PATTERN: Final = r"https?://[\x21-\x7e]+"
URL_RE: Final = re.compile(URL_PATTERN)
PROTOCOLS: Final = ("1.0", "1.1")
# What gated sends as `Authorization: Bearer` to a 1.1 adapter: URL-safe base64 (what
# secrets.token_urlsafe makes), long enough not to be guessed.
MIN_SEND_SECRET: Final = 32
MAX_SEND_SECRET: Final = 256
SEND_SECRET_PATTERN: Final = r"[A-Za-z0-9_-]+"  # noqa: S105 (a pattern, not a secret)
SEND_SECRET_RE: Final = re.compile(SEND_SECRET_PATTERN)
MAX_FILE_BYTES: Final = 100 * 1024 * 1024


def channel_name(value: str) -> str:
    """A channel's name: its main jid prefix, not a built-in one."""
    if value.endswith(":"):
        raise store.InvalidInput(
            "name", f"give the name without ':' ({value[:-1][:40]!r}, not {value[:40]!r})"
        )
    if not CHANNEL_NAME_RE.fullmatch(value):
        raise store.InvalidInput(
            "name",
            f"{value[:40]!r} is not a channel name (a lower-case letter, then up to 31 of "
            "a-z, 0-9, '-', '_')",
        )
    if value in RESERVED_CHANNELS:
        raise store.InvalidInput("name", f"{value!r} is reserved for a built-in channel")
    return value


def jid_prefixes(values: list[str]) -> list[str]:
    """Extra jid prefixes, each given as in a jid or with its colon (`tg` or `tg:`: both `tg`)."""
    if len(values) > MAX_PREFIXES:
        raise store.InvalidInput("jid_prefixes", f"at most {MAX_PREFIXES} prefixes")
    out = []
    for value in values:
        prefix = value.removesuffix(":")
        if not CHANNEL_NAME_RE.fullmatch(prefix):
            raise store.InvalidInput(
                "jid_prefixes",
                f"{value[:40]!r} is not a jid prefix (a lower-case letter, then up to 31 of "
                "a-z, 0-9, '-', '_'; 'tg' or 'tg:' for jids like 'tg:12345')",
            )
        if prefix in RESERVED_CHANNELS:
            raise store.InvalidInput(
                "jid_prefixes", f"{prefix!r} is reserved for a built-in channel"
            )
        out.append(prefix)
    return list(dict.fromkeys(out))


def adapter_url(value: str) -> str:
    """The adapter's base URL: http(s), a host, a valid port, no credentials, no spaces or
    control characters, at most MAX_URL_CHARS."""
    if len(value) > MAX_URL_CHARS:
        raise store.InvalidInput("url", f"is {len(value)} characters; the limit is {MAX_URL_CHARS}")
    if not URL_RE.fullmatch(value):
        raise store.InvalidInput(
            "url",
            f"{value[:80]!r} is not an http(s) URL of printable ASCII without spaces "
            "(e.g. http://127.0.0.1:8801)",
        )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise store.InvalidInput("url", f"{value[:80]!r}: {exc}") from None
    if not parts.hostname:
        raise store.InvalidInput("url", f"{value[:80]!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise store.InvalidInput("url", "must not hold credentials (user:password@)")
    if port == 0:
        raise store.InvalidInput("url", "port 0 is not a port to send to")
    return value


def message_limit(value: int) -> int:
    """The longest text the adapter's `/send` accepts."""
    if not MIN_MESSAGE_CHARS <= value <= MAX_MESSAGE_CHARS:
        raise store.InvalidInput(
            "max_message_chars",
            f"{value} is outside {MIN_MESSAGE_CHARS}..{MAX_MESSAGE_CHARS}",
        )
    return value


def send_secret(protocol: str, value: str | None, has_capabilities: bool) -> str | None:
    """The secret gated sends to the adapter: required for protocol 1.1; a 1.0 registration
    carries neither it nor capabilities (they would be silently unused)."""
    if protocol == "1.0":
        if value is not None:
            raise store.InvalidInput("send_secret", 'needs "protocol": "1.1"')
        if has_capabilities:
            raise store.InvalidInput("capabilities", 'needs "protocol": "1.1"')
        return None
    if value is None:
        raise store.InvalidInput("send_secret", 'is required with "protocol": "1.1"')
    if not MIN_SEND_SECRET <= len(value) <= MAX_SEND_SECRET or not SEND_SECRET_RE.fullmatch(value):
        raise store.InvalidInput(
            "send_secret",
            f"must be {MIN_SEND_SECRET}..{MAX_SEND_SECRET} URL-safe characters (A-Z a-z 0-9 - _), "
            "e.g. secrets.token_urlsafe(32)",
        )
    return value
