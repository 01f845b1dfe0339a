"""What `--db` / `SWITCHBOARD_DB` names: a file path (SQLite) or a `postgresql://` URL
(PostgreSQL). The one parser of that text; any other URL scheme is refused, never taken for a
file name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from store.errors import InvalidInput, UnsupportedDatabase

POSTGRES_SCHEMES: Final = ("postgresql", "postgres")
# `scheme:` at the start, as RFC 3986 spells a scheme: `mysql://…`, `sqlite:///…`, `file:…`.
SCHEME_RE: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# Schemes refused even without `//`: sqlite3 would take `file:x.db` for a plain file name
# (it reads URIs only when asked), `sqlite:x.db` looks like a URL it is not, and
# `postgresql:/h/db` is a URL whose `//` was lost (pathlib collapses it).
URI_LIKE_SCHEMES: Final = frozenset({"sqlite", "sqlite3", "file", *POSTGRES_SCHEMES})
ACCEPTED: Final = "a database file path (SQLite) or a postgresql:// URL (postgres:// also)"


@dataclass(frozen=True, slots=True)
class SqliteTarget:
    """An SQLite database file."""

    path: Path

    def shown(self) -> str:
        """How to name it in a message or a log line."""
        return str(self.path)


@dataclass(frozen=True, slots=True)
class PostgresTarget:
    """A PostgreSQL database, by its libpq connection URL (as given: it may hold a password)."""

    url: str

    def shown(self) -> str:
        """The URL with any password replaced by `***`, for messages and logs."""
        return redact_url(self.url)


DbTarget = SqliteTarget | PostgresTarget


def parse_db(text: str, field: str = "db") -> DbTarget:
    """The database `text` names. InvalidInput when it is empty; UnsupportedDatabase (naming
    the accepted forms) for a URL of any other scheme, or a `sqlite:`/`file:` form."""
    if not text.strip():
        raise InvalidInput(field, f"is empty; give {ACCEPTED}")
    match = SCHEME_RE.match(text)
    if match is None:
        return SqliteTarget(Path(text))
    scheme = match.group(1).lower()
    rest = text[match.end() :]
    if scheme in POSTGRES_SCHEMES and rest.startswith("//"):
        return PostgresTarget(text)
    if rest.startswith("//") or scheme in URI_LIKE_SCHEMES:
        raise UnsupportedDatabase(
            field, redact_url(text)[:120], f"is not a database Switchboard can use; give {ACCEPTED}"
        )
    # `data:2026.db`, `C:` and the like: a file name that happens to hold a colon.
    return SqliteTarget(Path(text))


def sqlite_only(program: str) -> str:
    """Why `program` ('this daemon', 'this command'), not ported to PostgreSQL yet, refuses
    a PostgreSQL URL: the words after the value."""
    return (
        f"is a PostgreSQL database, and {program} runs on SQLite only so far (PostgreSQL "
        "support is in progress, issue 20); give a database file path"
    )


def redact_url(text: str) -> str:
    """`text` with the password of a `scheme://user:password@host` URL replaced by `***` (and
    any `password=` query parameter); other text unchanged."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _ = userinfo.partition(":")
        netloc = f"{user}{':***' if sep else ''}@{hostport}"
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
