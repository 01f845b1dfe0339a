"""Names and types of files adapters upload (pure): what a file may be called and typed as,
and the safe name it gets on disk in a group folder's inbox/ (a name is never a path)."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote

from store import InvalidInput, validate

MAX_NAME_CHARS: Final = 255
MAX_SAFE_NAME: Final = 100
MAX_TYPE_CHARS: Final = 255
DEFAULT_TYPE: Final = "application/octet-stream"
MAX_EXTENSION: Final = 16
# RFC 6838 restricted names: `type/subtype`, both starting with a letter or digit.
MEDIA_TYPE_RE: Final = re.compile(
    r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"
)
UNSAFE_NAME_CHAR_RE: Final = re.compile(r"[^A-Za-z0-9._-]")


def file_name(value: object, field: str) -> str:
    """A file's display name: 1..255 characters, no controls, line breaks or bidi overrides.
    Slashes and dots are allowed: the name is only ever shown, or made safe by `safe_name`."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field, "must be a non-empty file name")
    if len(value) > MAX_NAME_CHARS:
        raise InvalidInput(field, f"is {len(value)} characters; at most {MAX_NAME_CHARS}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(field, "is not valid Unicode text") from None
    return validate.short_text(value, field, allow_empty=False)


def header_file_name(header: str, field: str = "X-Filename") -> str:
    """The name an `X-Filename` header carries, percent-decoded as UTF-8, then `file_name`."""
    try:
        decoded = unquote(header, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise InvalidInput(field, "is not percent-encoded UTF-8") from None
    return file_name(decoded, field)


def media_type(value: object, field: str) -> str:
    """A media type as stored: `type/subtype`, lower-case, parameters (`; charset=…`) dropped;
    empty means application/octet-stream."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a media type like 'image/png'")
    if len(value) > MAX_TYPE_CHARS:
        raise InvalidInput(field, f"is over {MAX_TYPE_CHARS} characters")
    bare = value.split(";", 1)[0].strip().lower()
    if not bare:
        return DEFAULT_TYPE
    if not MEDIA_TYPE_RE.fullmatch(bare):
        raise InvalidInput(field, f"{value[:60]!r} is not a media type like 'image/png'")
    return bare


def safe_name(name: str) -> str:
    """The name a file gets on disk: its last path segment (`/` or `\\`), every character but
    [A-Za-z0-9._-] as `_`, no leading dots, at most 100 characters (the extension kept);
    `file` when nothing is left."""
    base = re.split(r"[/\\]", name)[-1]
    safe = UNSAFE_NAME_CHAR_RE.sub("_", base).lstrip(".")
    if not safe:
        return "file"
    if len(safe) <= MAX_SAFE_NAME:
        return safe
    stem, dot, ext = safe.rpartition(".")
    if dot and stem and len(ext) < MAX_EXTENSION:
        return stem[: MAX_SAFE_NAME - len(ext) - 1] + "." + ext
    return safe[:MAX_SAFE_NAME]


def inbox_name(sha256: str, name: str) -> str:
    """A file's name in a group folder's inbox/: `<sha256[:12]>-<safe name>`."""
    return f"{sha256[:12]}-{safe_name(name)}"
