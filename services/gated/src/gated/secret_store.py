"""The secret store (gated's `secrets` table): credentials sealed with AES-256-GCM under a key
kept in a 0600 file beside the database. The CLI writes through these functions; only the
credential proxy (gated.credproxy) and `switchboard up` (a chat adapter's token) open a value."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, get_args
from urllib.parse import urlsplit

import store
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from store import audit
from store.audit import Actor

from gated.errors import SecretKeyError

# proxy: added by the credential proxy; env: the raw value in the agent's environment; adapter:
# a chat adapter's platform token, read only by `switchboard up --with` (never given to an agent).
Expose = Literal["proxy", "env", "adapter"]
EXPOSE_MODES: Final[tuple[str, ...]] = get_args(Expose)

KEY_FILE_NAME: Final = "secrets.key"  # beside the database, not `<db>*` (a `cp messages.db*`)
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
MAX_VALUE_BYTES: Final = 16 * 1024
NAME_RE: Final = re.compile(r"[a-z][a-z0-9_-]{0,47}")
# An HTTP field name (RFC 9110 token).
HEADER_RE: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
# Headers the proxy owns or that describe the connection: a secret may not set them.
RESERVED_HEADERS: Final = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
    }
)
ANTHROPIC_HOST: Final = "api.anthropic.com"
ANTHROPIC_NAME: Final = "anthropic"

COLUMNS: Final = "name, upstream, header, format, expose, key_id, created_at, updated_at"
UPSERT_SQL: Final = """
    INSERT INTO secrets (name, upstream, header, format, expose, key_id, sealed,
                         created_at, updated_at)
    VALUES (:name, :upstream, :header, :format, :expose, :key_id, :sealed, :now, :now)
    ON CONFLICT (name) DO UPDATE SET
        upstream = excluded.upstream, header = excluded.header, format = excluded.format,
        expose = excluded.expose, key_id = excluded.key_id, sealed = excluded.sealed,
        updated_at = excluded.updated_at
"""


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret's settings; never its value."""

    name: str
    upstream: str | None
    header: str | None
    format: str
    expose: Expose
    key_id: str
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Secret:
        return cls(
            name=row["name"],
            upstream=row["upstream"],
            header=row["header"],
            format=row["format"],
            expose=row["expose"],
            key_id=row["key_id"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    @property
    def is_anthropic(self) -> bool:
        """Claude Code's API: reached through `ANTHROPIC_BASE_URL`."""
        host = urlsplit(self.upstream).hostname if self.upstream else None
        return self.name == ANTHROPIC_NAME or host == ANTHROPIC_HOST


# -- the key file ---------------------------------------------------------------------------


def key_file_for(db: str | os.PathLike[str]) -> Path:
    """The default key file of a database: `secrets.key` in the database's directory."""
    return Path(db).resolve().parent / KEY_FILE_NAME


def key_id(key: bytes) -> str:
    """Which key sealed a value (a hash prefix: tells keys apart, reveals nothing)."""
    return hashlib.sha256(b"switchboard-secrets-key-id:" + key).hexdigest()[:16]


def load_key(path: Path, *, create: bool = False) -> bytes:
    """The key in `path`; created (0600, exclusive) when missing and `create`. A file that is
    not a regular file of ours with mode 0600 (or 0400) is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        if not create:
            raise SecretKeyError(
                f"secret key file {path} is missing: secrets set with another key file cannot "
                "be read (set them again with `switchboard secret set`)"
            ) from None
        return _create_key(path)
    except OSError as exc:
        raise SecretKeyError(f"secret key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise SecretKeyError(f"secret key file {path} is not a regular file")
        if st.st_uid != os.geteuid():
            raise SecretKeyError(
                f"secret key file {path} belongs to uid {st.st_uid}, not to this user "
                f"(uid {os.geteuid()})"
            )
        if st.st_mode & 0o077:
            raise SecretKeyError(
                f"secret key file {path} has mode {stat.S_IMODE(st.st_mode):04o}: others may "
                f"read it; refusing to use it (fix: chmod 600 {path})"
            )
        raw = f.read(200)
    try:
        key = base64.urlsafe_b64decode(raw.strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise SecretKeyError(f"secret key file {path} does not hold a {KEY_BYTES}-byte key")
    return key


def _create_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return load_key(path)
    with os.fdopen(fd, "wb") as f:
        f.write(base64.urlsafe_b64encode(key) + b"\n")
        f.flush()
        os.fsync(f.fileno())
    return key


def seal(key: bytes, name: str, value: str) -> bytes:
    """nonce || AES-256-GCM(value), bound to the secret's name (a row moved to another name
    does not open)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, value.encode(), name.encode())


def unseal(key: bytes, name: str, sealed: bytes) -> str:
    try:
        plain = AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], name.encode())
    except InvalidTag:
        raise SecretKeyError(
            f"secret {name!r} does not open with this key file (tampered with, or sealed with "
            "another key): set it again"
        ) from None
    return plain.decode()


# -- validation (pure) ------------------------------------------------------------------------


def secret_name(value: str) -> str:
    if not NAME_RE.fullmatch(value):
        raise store.InvalidInput(
            "name",
            f"{value[:60]!r} is not a secret name: lower-case letters, digits, '-', '_', "
            "starting with a letter, at most 48",
        )
    return value


def upstream_url(value: str) -> str:
    """An https:// base URL: a host, no credentials, query or fragment; trailing '/' dropped."""
    field = "--upstream"
    if store.validate.CONTROL_RE.search(value) or " " in value or len(value) > 2000:
        raise store.InvalidInput(field, "must be a URL without spaces or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise store.InvalidInput(field, f"{value[:80]!r} is not a URL: {exc}") from None
    if parts.scheme != "https":
        raise store.InvalidInput(field, f"{value[:80]!r} must start with https:// (TLS only)")
    if not parts.hostname:
        raise store.InvalidInput(field, f"{value[:80]!r} has no host")
    if "@" in parts.netloc:
        raise store.InvalidInput(field, "must not carry credentials (user:password@)")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise store.InvalidInput(field, "must not have a query or fragment")
    if port == 0:
        raise store.InvalidInput(field, "port must be 1..65535")
    return value.rstrip("/")


def header_name(value: str) -> str:
    if not HEADER_RE.fullmatch(value):
        raise store.InvalidInput("--header", f"{value[:60]!r} is not an HTTP header name")
    if value.lower() in RESERVED_HEADERS:
        raise store.InvalidInput("--header", f"{value!r} is managed by the proxy itself")
    return value


def header_format(value: str) -> str:
    """A template with exactly one `{}` (the value) and no other braces or control characters."""
    if "{}" not in value or value.count("{") != 1 or value.count("}") != 1:
        raise store.InvalidInput("--format", f"{value[:60]!r} must contain '{{}}' exactly once")
    if store.validate.CONTROL_RE.search(value) or len(value) > 200:
        raise store.InvalidInput("--format", "must be one short line without control characters")
    return value


def secret_value(value: str) -> str:
    """The value as read from stdin: one trailing newline dropped; one line, not empty."""
    if value.endswith("\r\n"):
        value = value[:-2]
    elif value.endswith("\n"):
        value = value[:-1]
    if not value:
        raise store.InvalidInput("value", "is empty (give it on standard input)")
    if store.validate.CONTROL_RE.search(value):
        raise store.InvalidInput("value", "must be one line without control characters")
    if len(value.encode()) > MAX_VALUE_BYTES:
        raise store.InvalidInput("value", f"is over {MAX_VALUE_BYTES} bytes")
    return value


def expose_mode(value: str) -> Expose:
    if value not in EXPOSE_MODES:
        raise store.InvalidInput("--expose", f"{value!r} is not one of {', '.join(EXPOSE_MODES)}")
    return value  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class SecretSettings:
    """Validated settings of `secret set` (defaults applied)."""

    name: str
    upstream: str | None
    header: str | None
    format: str
    expose: Expose


def secret_settings(
    name: str,
    *,
    upstream: str | None = None,
    header: str | None = None,
    format: str | None = None,
    expose: str = "proxy",
) -> SecretSettings:
    """Check `secret set`'s arguments. proxy (the default) needs --upstream; the header defaults
    to `x-api-key` for Anthropic and `Authorization` otherwise, the format to `Bearer {}` for
    Authorization and `{}` otherwise. env and adapter take none of --upstream/--header/--format."""
    name = secret_name(name)
    mode = expose_mode(expose)
    if mode != "proxy":
        given = [f for f, v in (("--upstream", upstream), ("--header", header)) if v is not None]
        if format is not None:
            given.append("--format")
        if given:
            raise store.InvalidInput(given[0], f"is for --expose proxy, not {mode}")
        return SecretSettings(name, None, None, "{}", mode)
    if upstream is None:
        raise store.InvalidInput(
            "--upstream", "is required (or --expose env, or --expose adapter for a chat adapter)"
        )
    url = upstream_url(upstream)
    if header is None:
        anthropic = name == ANTHROPIC_NAME or urlsplit(url).hostname == ANTHROPIC_HOST
        header = "x-api-key" if anthropic else "Authorization"
    header = header_name(header)
    if format is None:
        format = "Bearer {}" if header.lower() == "authorization" else "{}"
    return SecretSettings(name, url, header, header_format(format), "proxy")


# -- the table --------------------------------------------------------------------------------


def set_secret(
    conn: sqlite3.Connection,
    key_file: Path,
    settings: SecretSettings,
    value: str,
    *,
    actor: Actor | None = None,
) -> Secret:
    """Create or replace a secret (the key file is created on first use). With an `actor`,
    logged as `secret.set`: its settings before and after, never its value."""
    value = secret_value(value)
    key = load_key(key_file, create=True)
    with store.tx(conn):
        before = get_secret(conn, settings.name)
        conn.execute(
            UPSERT_SQL,
            {
                "name": settings.name,
                "upstream": settings.upstream,
                "header": settings.header,
                "format": settings.format,
                "expose": settings.expose,
                "key_id": key_id(key),
                "sealed": seal(key, settings.name, value),
                "now": store.now_iso(),
            },
        )
        found = get_secret(conn, settings.name)
        assert found is not None
        audit.record(conn, actor, "secret.set", settings.name, before=before, after=found)
    return found


def get_secret(conn: sqlite3.Connection, name: str) -> Secret | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM secrets WHERE name = ?", (name,)).fetchone()
    return Secret.from_row(row) if row else None


def list_secrets(conn: sqlite3.Connection) -> list[Secret]:
    rows = conn.execute(f"SELECT {COLUMNS} FROM secrets ORDER BY name").fetchall()
    return [Secret.from_row(r) for r in rows]


def remove_secret(conn: sqlite3.Connection, name: str, *, actor: Actor | None = None) -> None:
    """Remove a secret; NotFound when there is none. With an `actor`, logged as
    `secret.remove` (its settings as the before)."""
    with store.tx(conn):
        before = get_secret(conn, name)
        if before is None:
            raise store.NotFound(f"no secret named {name!r} (see: switchboard secret list)")
        conn.execute("DELETE FROM secrets WHERE name = ?", (name,))
        audit.record(conn, actor, "secret.remove", name, before=before)


def reveal(conn: sqlite3.Connection, key: bytes, name: str) -> str:
    """The value of a secret; for the credential proxy and `switchboard up` only."""
    row = conn.execute("SELECT key_id, sealed FROM secrets WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise store.NotFound(f"no secret named {name!r}")
    if row["key_id"] != key_id(key):
        raise SecretKeyError(
            f"secret {name!r} was sealed with another key file (key id {row['key_id']}): "
            "set it again"
        )
    return unseal(key, name, bytes(row["sealed"]))
