"""Dashboard accounts (`auth_users`, `user_groups`): the functions the CLI and `switchboard up`
call. Signatures are the contract; see DESIGN.md section 7."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class User:
    sub: str
    username: str
    folders: tuple[str, ...]  # empty = operator (all groups)
    created_at: str


def add_user(
    conn: sqlite3.Connection, username: str, password: str, folders: list[str] | None = None
) -> User:
    """Create a user with an argon2id hash; InvalidInput on a bad/taken name or weak password."""
    raise NotImplementedError


def list_users(conn: sqlite3.Connection) -> list[User]:
    raise NotImplementedError


def remove_user(conn: sqlite3.Connection, username: str) -> None:
    """Delete a user and revoke their sessions; NotFound when absent."""
    raise NotImplementedError


def set_password(conn: sqlite3.Connection, username: str, password: str) -> None:
    """Change a password and revoke the user's sessions."""
    raise NotImplementedError
