"""Login sessions: the persisted signing key, JWT access tokens, rotating refresh tokens in
`auth_sessions` (reuse revokes the family), the stored failed-login limit, and CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sqlite3
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import jwt
import store
from store.sqlparts import and_in

from dashd.errors import RateLimited, SessionInvalid

log = logging.getLogger(__name__)

JWT_ALG: Final = "HS256"
SECRET_NAME: Final = "jwt_signing_key"  # noqa: S105 (a row name, not a secret)
MAX_FAILURES: Final = 5
FAILURE_WINDOW: Final = timedelta(minutes=15)

# Parameters: family, now. The family is alive while its newest token is unused and unrevoked.
SESSION_ALIVE_SQL = """
SELECT sub FROM auth_sessions
WHERE family = ? AND revoked_at IS NULL AND used_at IS NULL AND expires_at > ?
LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class Tokens:
    """What a successful login or refresh hands to the browser."""

    access: str
    refresh: str
    family: str
    sub: str


def signing_key(conn: sqlite3.Connection) -> str:
    """The JWT/CSRF key, generated on first use and kept in `dashd_secrets` across restarts."""
    row = conn.execute("SELECT value FROM dashd_secrets WHERE name = ?", (SECRET_NAME,)).fetchone()
    if row:
        return str(row[0])
    with store.tx(conn):
        conn.execute(
            "INSERT INTO dashd_secrets (name, value, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (SECRET_NAME, secrets.token_urlsafe(48), store.now_iso()),
        )
        row = conn.execute(
            "SELECT value FROM dashd_secrets WHERE name = ?", (SECRET_NAME,)
        ).fetchone()
    return str(row[0])


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def access_token(key: str, sub: str, family: str, now: datetime, ttl: timedelta) -> str:
    claims = {"sub": sub, "sid": family, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, key, algorithm=JWT_ALG)


def decode_access(key: str, token: str) -> dict[str, Any] | None:
    """The claims of a valid, unexpired access token; None otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[JWT_ALG], options={"require": ["sub", "sid", "exp"]}
        )
    except jwt.InvalidTokenError:
        return None
    return claims


def _insert_refresh(
    conn: sqlite3.Connection, family: str, sub: str, now: datetime, ttl: timedelta, ip: str, ua: str
) -> str:
    token = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO auth_sessions (family, sub, token_hash, created_at, expires_at, ip, "
        "user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (family, sub, _hash_token(token), store.iso(now), store.iso(now + ttl), ip, ua[:300]),
    )
    return token


def start_session(
    conn: sqlite3.Connection,
    key: str,
    sub: str,
    *,
    now: datetime,
    access_ttl: timedelta,
    refresh_ttl: timedelta,
    ip: str = "",
    user_agent: str = "",
) -> Tokens:
    """A new session family after a successful login."""
    family = uuid.uuid4().hex
    with store.tx(conn):
        refresh = _insert_refresh(conn, family, sub, now, refresh_ttl, ip, user_agent)
    return Tokens(access_token(key, sub, family, now, access_ttl), refresh, family, sub)


def rotate(
    conn: sqlite3.Connection,
    key: str,
    refresh: str,
    *,
    now: datetime,
    access_ttl: timedelta,
    refresh_ttl: timedelta,
    reuse_grace: timedelta,
    ip: str = "",
    user_agent: str = "",
) -> Tokens:
    """Trade a refresh token for a new pair. A token used before revokes its whole family
    (SessionInvalid) unless it was rotated within `reuse_grace` (two tabs refreshing at once):
    then empty tokens, meaning "authenticated; keep the cookies the other request set"."""
    with store.tx(conn):
        row = conn.execute(
            "SELECT * FROM auth_sessions WHERE token_hash = ?", (_hash_token(refresh),)
        ).fetchone()
        if row is None:
            raise SessionInvalid("refresh token: unknown")
        if row["revoked_at"] is not None:
            raise SessionInvalid(f"refresh token: session {row['family']} is revoked")
        if row["expires_at"] <= store.iso(now):
            raise SessionInvalid(f"refresh token: expired at {row['expires_at']}")
        reused = row["used_at"] is not None
        if reused and now - store.parse_iso(row["used_at"]) <= reuse_grace:
            return Tokens("", "", row["family"], row["sub"])
        if not reused:
            # Checked and used in one BEGIN IMMEDIATE transaction: a concurrent rotation of the
            # same token waits for this one and then sees it used (the grace case above).
            conn.execute(
                "UPDATE auth_sessions SET used_at = ? WHERE id = ? AND used_at IS NULL",
                (store.iso(now), row["id"]),
            )
            new = _insert_refresh(conn, row["family"], row["sub"], now, refresh_ttl, ip, user_agent)
    if reused:
        # Outside the transaction above: raising inside it would roll the revocation back.
        revoke_family(conn, row["family"], now)
        log.warning("refresh token reuse: revoked session family=%s", row["family"])
        raise SessionInvalid(f"refresh token: reused; session {row['family']} revoked")
    access = access_token(key, row["sub"], row["family"], now, access_ttl)
    return Tokens(access, new, row["family"], row["sub"])


def session_alive(conn: sqlite3.Connection, family: str, now: datetime) -> str | None:
    """The user (sub) of a live session family, or None when logged out / revoked / expired."""
    row = conn.execute(SESSION_ALIVE_SQL, (family, store.iso(now))).fetchone()
    return str(row[0]) if row else None


def live_families(conn: sqlite3.Connection, families: Collection[str], now: datetime) -> set[str]:
    """Those of `families` still alive (as `session_alive` says), in one query: the live hub
    ends the streams of the others (logged out, revoked) on its next wake-up."""
    wanted = sorted(families)
    if not wanted:
        return set()
    rows = conn.execute(
        "SELECT DISTINCT family FROM auth_sessions"
        " WHERE revoked_at IS NULL AND used_at IS NULL AND expires_at > ?"
        + and_in("family", wanted),
        [store.iso(now), *wanted],
    ).fetchall()
    return {str(r[0]) for r in rows}


def revoke_family(conn: sqlite3.Connection, family: str, now: datetime) -> int:
    """Revoke every token of a session (logout, reuse); returns how many rows changed."""
    with store.tx(conn):
        cur = conn.execute(
            "UPDATE auth_sessions SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
            (store.iso(now), family),
        )
        return cur.rowcount


def recent_failures(conn: sqlite3.Connection, ip: str, username: str, now: datetime) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM login_failures WHERE username = ? AND ip = ? AND at > ?",
        (username, ip, store.iso(now - FAILURE_WINDOW)),
    ).fetchone()
    return int(row[0])


def check_rate_limit(conn: sqlite3.Connection, ip: str, username: str, now: datetime) -> None:
    """RateLimited when this ip+username failed MAX_FAILURES times in FAILURE_WINDOW."""
    if recent_failures(conn, ip, username, now) < MAX_FAILURES:
        return
    row = conn.execute(
        "SELECT at FROM login_failures WHERE username = ? AND ip = ? AND at > ? "
        "ORDER BY at DESC LIMIT 1 OFFSET ?",
        (username, ip, store.iso(now - FAILURE_WINDOW), MAX_FAILURES - 1),
    ).fetchone()
    until = store.parse_iso(row[0]) + FAILURE_WINDOW if row else now + FAILURE_WINDOW
    raise RateLimited(
        f"username {username!r} from {ip}: {MAX_FAILURES} failed logins in 15 minutes; "
        f"try again after {until.strftime('%H:%M')} UTC"
    )


def record_failure(conn: sqlite3.Connection, ip: str, username: str, now: datetime) -> None:
    with store.tx(conn):
        conn.execute(
            "INSERT INTO login_failures (ip, username, at) VALUES (?, ?, ?)",
            (ip, username[:200], store.iso(now)),
        )


def failures_recorded(conn: sqlite3.Connection) -> int:
    """Failed logins recorded ever: the table's AUTOINCREMENT counter, which pruning and
    clearing rows never lower (sqlite_sequence has one row per such table)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'login_failures'").fetchone()
    return int(row[0]) if row else 0


def clear_failures(conn: sqlite3.Connection, ip: str, username: str) -> None:
    with store.tx(conn):
        conn.execute("DELETE FROM login_failures WHERE username = ? AND ip = ?", (username, ip))


def prune(conn: sqlite3.Connection, now: datetime) -> int:
    """Drop expired refresh tokens and failures older than the window; returns rows removed."""
    with store.tx(conn):
        a = conn.execute("DELETE FROM auth_sessions WHERE expires_at < ?", (store.iso(now),))
        b = conn.execute(
            "DELETE FROM login_failures WHERE at < ?", (store.iso(now - FAILURE_WINDOW),)
        )
        return a.rowcount + b.rowcount


def csrf_token(key: str, nonce: str, family: str = "") -> str:
    """The token forms carry: an HMAC of the browser's CSRF cookie and its session."""
    msg = f"csrf|{nonce}|{family}".encode()
    return hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()


def csrf_ok(key: str, nonce: str, family: str, presented: str) -> bool:
    if not nonce or not presented:
        return False
    return hmac.compare_digest(csrf_token(key, nonce, family), presented)
