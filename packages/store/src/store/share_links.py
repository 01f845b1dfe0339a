"""Public share links (`share_links`): one unguessable token per group folder, stored only as
its SHA-256; the origins allowed to frame the link's page; and the jid and session topic of
each anonymous visitor's private conversation."""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from store import audit, validate
from store.audit import Actor
from store.clock import now_iso
from store.connection import tx
from store.errors import InvalidInput, NotFound
from store.sqlparts import and_in

TOKEN_BYTES: Final = 32  # 256 bits from secrets.token_urlsafe: never guessed, never enumerated
MAX_ORIGINS: Final = 20
MAX_ORIGIN_CHARS: Final = 200
VISITOR_ID_BYTES: Final = 16
# token_urlsafe(16) is 22 characters of the URL-safe base64 alphabet.
VISITOR_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{22}")
VISITOR_JID_RE: Final = re.compile(r"web:([a-z0-9][a-z0-9_-]{0,63})/v/([A-Za-z0-9_-]{22})")
VISITOR_TOPIC_PREFIX: Final = "share:"
# scheme://host[:port], lower case, nothing after: a DNS name (labels of letters, digits and
# inner hyphens), an IPv4 address, or a bracketed IPv6 address. Nothing that could end a CSP
# directive (`;`, `,`, spaces, quotes) or widen it (`*`).
LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
ORIGIN_RE: Final = re.compile(
    rf"(https?)://({LABEL}(?:\.{LABEL})*|\[[0-9a-f:.]{{2,45}}\])(?::([0-9]{{1,5}}))?"
)

# Parameters: token_hash. The UNIQUE autoindex on token_hash answers it: one index probe,
# whatever the token (unknown, revoked, malformed all take this same path).
LOOKUP_SQL = "SELECT * FROM share_links WHERE token_hash = ?"
# Parameters: folder, token_hash, created_at. A new token for a folder, keeping its origins.
UPSERT_SQL = """
INSERT INTO share_links (folder, token_hash, created_at) VALUES (?, ?, ?)
ON CONFLICT (folder) DO UPDATE SET token_hash = excluded.token_hash,
    created_at = excluded.created_at
"""


@dataclass(frozen=True, slots=True)
class ShareLink:
    """A folder's live share link (its token is never stored, only its hash)."""

    folder: str
    created_at: str
    frame_ancestors: tuple[str, ...]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ShareLink:
        origins = tuple(str(row["frame_ancestors"]).split())
        return cls(str(row["folder"]), str(row["created_at"]), origins)


def hash_token(token: str) -> str:
    """The hex SHA-256 of a presented token (any text: a malformed one hashes like the rest)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def create_link(conn: sqlite3.Connection, folder: str, *, actor: Actor | None = None) -> str:
    """A new token for `folder`, returned once: the folder's previous token (if any) stops
    working in the same transaction; its frame-ancestors allowlist is kept. With an `actor`,
    logged as `share.create` or `share.rotate` (the link's dates and origins, never its
    token or the token's hash)."""
    validate.folder(folder)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with tx(conn):
        before = get_link(conn, folder)
        conn.execute(UPSERT_SQL, (folder, hash_token(token), now_iso()))
        action: audit.Action = "share.rotate" if before else "share.create"
        audit.record(conn, actor, action, folder, before=before, after=get_link(conn, folder))
    return token


def revoke_link(conn: sqlite3.Connection, folder: str, *, actor: Actor | None = None) -> bool:
    """Remove a folder's link (token and allowlist); False when it had none. With an
    `actor`, logged as `share.revoke`."""
    validate.folder(folder)
    with tx(conn):
        before = get_link(conn, folder)
        if before is None:
            return False
        conn.execute("DELETE FROM share_links WHERE folder = ?", (folder,))
        audit.record(conn, actor, "share.revoke", folder, before=before)
        return True


def lookup(conn: sqlite3.Connection, token: str) -> ShareLink | None:
    """The link a presented token opens, or None. The token is hashed and the hash looked up
    by index: no comparison of the secret itself, so timing tells nothing about it."""
    row = conn.execute(LOOKUP_SQL, (hash_token(token),)).fetchone()
    return ShareLink.from_row(row) if row else None


def live_token_hashes(conn: sqlite3.Connection, hashes: Collection[str]) -> set[str]:
    """Those of `hashes` that are a live link's token hash, in one query (the UNIQUE
    autoindex): dashd's live hub ends the streams of a rotated or revoked link with it."""
    wanted = sorted(hashes)
    if not wanted:
        return set()
    sql = "SELECT token_hash FROM share_links WHERE 1 = 1" + and_in("token_hash", wanted)
    return {str(r[0]) for r in conn.execute(sql, wanted)}


def get_link(conn: sqlite3.Connection, folder: str) -> ShareLink | None:
    row = conn.execute("SELECT * FROM share_links WHERE folder = ?", (folder,)).fetchone()
    return ShareLink.from_row(row) if row else None


def origin(value: object, field: str = "origin") -> str:
    """A web origin like `https://example.com` or `http://127.0.0.1:8081` (one trailing `/`
    is dropped; scheme and host are lower-cased); anything else is InvalidInput."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field, "must be an origin like 'https://example.com'")
    text = value.strip()
    if len(text) > MAX_ORIGIN_CHARS:
        raise InvalidInput(field, f"is {len(text)} characters; the limit is {MAX_ORIGIN_CHARS}")
    text = text.removesuffix("/").lower()
    m = ORIGIN_RE.fullmatch(text)
    if m is None or (m.group(3) is not None and not 0 < int(m.group(3)) < 65536):
        raise InvalidInput(
            field,
            f"{value[:80]!r} is not an origin: use scheme://host[:port] with http or https, "
            "no path, no wildcard",
        )
    return text


def set_frame_ancestors(
    conn: sqlite3.Connection,
    folder: str,
    origins: list[str] | tuple[str, ...],
    *,
    actor: Actor | None = None,
) -> ShareLink:
    """Replace the origins that may frame a folder's share page (empty: none may); each is
    validated. NotFound when the folder has no link. With an `actor`, logged as
    `share.origins.set`."""
    validate.folder(folder)
    clean = list(dict.fromkeys(origin(o) for o in origins))
    if len(clean) > MAX_ORIGINS:
        raise InvalidInput("origins", f"{len(clean)} given; at most {MAX_ORIGINS}")
    with tx(conn):
        before = get_link(conn, folder)
        if before is None:
            raise NotFound(f"group folder {folder!r} has no share link (create one first)")
        row = conn.execute(
            "UPDATE share_links SET frame_ancestors = ? WHERE folder = ? RETURNING *",
            (" ".join(clean), folder),
        ).fetchone()
        link = ShareLink.from_row(row)
        audit.record(conn, actor, "share.origins.set", folder, before=before, after=link)
    return link


# Parameters: folder, 'web:<folder>/v/', 'web:<folder>/v0'. A folder's visitor chats are the
# jids between those two ('0' follows '/'): one range of the (folder, jid) index, no row read.
VISITOR_COUNT_SQL = (
    "SELECT COUNT(*) FROM registered_groups WHERE folder = ? AND jid >= ? AND jid < ?"
)


def visitor_counts(conn: sqlite3.Connection, folders: list[str]) -> dict[str, int]:
    """How many share-link visitors (chats registered on a first message) each of `folders`
    has; folders with none are left out."""
    counts = {}
    for folder in folders:
        low, high = f"web:{folder}/v/", f"web:{folder}/v0"
        n = int(conn.execute(VISITOR_COUNT_SQL, (folder, low, high)).fetchone()[0])
        if n:
            counts[folder] = n
    return counts


def new_visitor_id() -> str:
    return secrets.token_urlsafe(VISITOR_ID_BYTES)


def visitor_jid(folder: str, visitor_id: str) -> str:
    """The private chat of one visitor of a folder's share link."""
    if not VISITOR_ID_RE.fullmatch(visitor_id):
        raise InvalidInput("visitor", f"{visitor_id[:40]!r} is not a visitor id")
    return f"web:{validate.folder(folder)}/v/{visitor_id}"


def visitor_topic(visitor_id: str) -> str:
    """The session topic of one visitor: sessions are per (folder, topic), so two visitors
    never share an agent session (and none shares the folder's default one)."""
    if not VISITOR_ID_RE.fullmatch(visitor_id):
        raise InvalidInput("visitor", f"{visitor_id[:40]!r} is not a visitor id")
    return VISITOR_TOPIC_PREFIX + visitor_id


def is_visitor_jid(jid: str) -> bool:
    """Whether a chat is a share-link visitor's."""
    return VISITOR_JID_RE.fullmatch(jid) is not None
