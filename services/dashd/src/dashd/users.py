"""Dashboard accounts (`auth_users`, `user_groups`): the functions the CLI and `switchboard up`
call, and password checks for the login form. See DESIGN.md section 7."""

from __future__ import annotations

import functools
import re
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Final

import store
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from store import audit, validate
from store.audit import Actor

# Checked with fullmatch(): `$` would let a trailing newline through.
USERNAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
MIN_PASSWORD_LEN: Final = 8
MAX_PASSWORD_LEN: Final = 1024
# argon2-cffi's defaults are argon2id (RFC 9106 low-memory profile).
HASHER: Final = PasswordHasher()
# Verified against when the username is unknown, so both cases cost the same time.


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown users (same cost as a real check), made on first
    use rather than at import so the CLI starts fast."""
    return HASHER.hash("not-a-real-password")


@dataclass(frozen=True, slots=True)
class User:
    sub: str
    username: str
    folders: tuple[str, ...]  # empty = operator (all groups)
    created_at: str

    @property
    def is_operator(self) -> bool:
        return not self.folders


def check_username(username: object) -> str:
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise store.InvalidInput(
            "username",
            f"{str(username)[:80]!r} is not a valid name (letters, digits, '_', '.', '@', '-'; "
            "at most 64; starts with a letter or digit)",
        )
    return username


def check_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LEN:
        raise store.InvalidInput(
            "password", f"too short; use at least {MIN_PASSWORD_LEN} characters"
        )
    if len(password) > MAX_PASSWORD_LEN:
        raise store.InvalidInput("password", f"too long; at most {MAX_PASSWORD_LEN} characters")
    return password


def _folders_of(conn: sqlite3.Connection, sub: str) -> tuple[str, ...]:
    rows = conn.execute("SELECT folder FROM user_groups WHERE sub = ? ORDER BY folder", (sub,))
    return tuple(r[0] for r in rows)


def _user(conn: sqlite3.Connection, row: sqlite3.Row) -> User:
    return User(
        sub=row["sub"],
        username=row["username"],
        folders=_folders_of(conn, row["sub"]),
        created_at=row["created_at"],
    )


def add_user(
    conn: sqlite3.Connection,
    username: str,
    password: str,
    folders: list[str] | None = None,
    *,
    actor: Actor | None = None,
) -> User:
    """Create a user with an argon2id hash; InvalidInput on a bad/taken name or weak password.
    With an `actor`, logged as `user.add` (name and groups; never the password or its hash);
    so are remove_user and set_password with theirs."""
    check_username(username)
    check_password(password)
    wanted = sorted({validate.folder(f, "folder") for f in folders or []})
    encoded = HASHER.hash(password)
    now = store.now_iso()
    sub = uuid.uuid4().hex
    with store.tx(conn):
        if conn.execute("SELECT 1 FROM auth_users WHERE username = ?", (username,)).fetchone():
            raise store.InvalidInput("username", f"{username!r} already exists")
        conn.execute(
            "INSERT INTO auth_users (sub, username, hash, created_at, password_changed_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (sub, username, encoded, now, now),
        )
        conn.executemany(
            "INSERT INTO user_groups (sub, folder) VALUES (?, ?)", [(sub, f) for f in wanted]
        )
        user = User(sub=sub, username=username, folders=tuple(wanted), created_at=now)
        audit.record(conn, actor, "user.add", username, after=user)
    return user


def list_users(conn: sqlite3.Connection) -> list[User]:
    rows = conn.execute("SELECT * FROM auth_users ORDER BY username").fetchall()
    return [_user(conn, r) for r in rows]


def get_user(conn: sqlite3.Connection, sub: str) -> User | None:
    row = conn.execute("SELECT * FROM auth_users WHERE sub = ?", (sub,)).fetchone()
    return _user(conn, row) if row else None


def remove_user(conn: sqlite3.Connection, username: str, *, actor: Actor | None = None) -> None:
    """Delete a user and revoke their sessions; NotFound when absent."""
    with store.tx(conn):
        row = conn.execute("SELECT * FROM auth_users WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise store.NotFound(f"no dashboard user named {username!r}")
        audit.record(conn, actor, "user.remove", username, before=_user(conn, row))
        conn.execute("DELETE FROM auth_sessions WHERE sub = ?", (row[0],))
        conn.execute("DELETE FROM user_groups WHERE sub = ?", (row[0],))
        conn.execute("DELETE FROM auth_users WHERE sub = ?", (row[0],))


def set_password(
    conn: sqlite3.Connection, username: str, password: str, *, actor: Actor | None = None
) -> None:
    """Change a password and revoke the user's sessions."""
    check_password(password)
    encoded = HASHER.hash(password)
    now = store.now_iso()
    with store.tx(conn):
        row = conn.execute("SELECT sub FROM auth_users WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise store.NotFound(f"no dashboard user named {username!r}")
        conn.execute(
            "UPDATE auth_users SET hash = ?, password_changed_at = ? WHERE sub = ?",
            (encoded, now, row[0]),
        )
        conn.execute(
            "UPDATE auth_sessions SET revoked_at = ? WHERE sub = ? AND revoked_at IS NULL",
            (now, row[0]),
        )
        audit.record(conn, actor, "user.password.set", username)


def verify_login(conn: sqlite3.Connection, username: str, password: str) -> User | None:
    """The user when the password matches; None otherwise (same cost for unknown names)."""
    row = conn.execute("SELECT * FROM auth_users WHERE username = ?", (username,)).fetchone()
    encoded = row["hash"] if row else _dummy_hash()
    try:
        HASHER.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if HASHER.check_needs_rehash(encoded):
        with store.tx(conn):
            conn.execute(
                "UPDATE auth_users SET hash = ? WHERE sub = ? AND hash = ?",
                (HASHER.hash(password), row["sub"], encoded),
            )
    return _user(conn, row)
