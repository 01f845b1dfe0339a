"""Schema owned by dashd (`auth_users`, `user_groups`, `auth_sessions`, `login_failures`,
`dashd_secrets`), applied once at the start of each process that uses it:
`store.open(path, {"dashd": MIGRATIONS, ...})`."""

from __future__ import annotations

import sqlite3

from store.connection import execute_script
from store.migrator import Migration

MIGRATIONS: list[Migration] = []
migration = MIGRATIONS.append


@migration
def m001_auth(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- Dashboard accounts.
        CREATE TABLE auth_users (
            sub                 TEXT PRIMARY KEY,   -- stable random id (JWT subject)
            username            TEXT NOT NULL UNIQUE,  -- login name (also serves lookup)
            hash                TEXT NOT NULL,      -- argon2id encoded hash
            created_at          TEXT NOT NULL,      -- ISO-8601 UTC
            password_changed_at TEXT NOT NULL       -- ISO-8601 UTC
        );

        -- Folders a user may see; no rows for a user = operator (sees everything).
        CREATE TABLE user_groups (
            sub    TEXT NOT NULL REFERENCES auth_users (sub) ON DELETE CASCADE,
            folder TEXT NOT NULL,                   -- group folder slug
            PRIMARY KEY (sub, folder)               -- also serves "folders of a user"
        );

        -- Refresh tokens, one row per issued token; a login starts a family, every refresh
        -- adds a row to it and marks the previous one used.
        CREATE TABLE auth_sessions (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            family      TEXT NOT NULL,        -- session id (the JWT's sid claim)
            sub         TEXT NOT NULL REFERENCES auth_users (sub) ON DELETE CASCADE,
            token_hash  TEXT NOT NULL UNIQUE, -- sha256 hex of the refresh token (lookup)
            created_at  TEXT NOT NULL,
            expires_at  TEXT NOT NULL,
            used_at     TEXT,                 -- set when rotated; a second use is a reuse
            revoked_at  TEXT,                 -- set on logout, reuse, password change, removal
            ip          TEXT NOT NULL DEFAULT '',
            user_agent  TEXT NOT NULL DEFAULT ''
        );
        -- session_alive(family) and revoke_family(family).
        CREATE INDEX auth_sessions_family ON auth_sessions (family);
        -- revoke_user(sub).
        CREATE INDEX auth_sessions_sub ON auth_sessions (sub);

        -- Failed logins for the rate limit (kept across restarts).
        CREATE TABLE login_failures (
            id       INTEGER PRIMARY KEY AUTOINCREMENT,
            ip       TEXT NOT NULL,
            username TEXT NOT NULL,
            at       TEXT NOT NULL            -- ISO-8601 UTC
        );
        -- recent_failures(ip, username, since).
        CREATE INDEX login_failures_key ON login_failures (username, ip, at);

        -- dashd's own secrets (the JWT/CSRF signing key), generated once.
        CREATE TABLE dashd_secrets (
            name       TEXT PRIMARY KEY,
            value      TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """,
    )
