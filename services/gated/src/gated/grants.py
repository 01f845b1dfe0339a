"""Which secrets each group folder is granted (its `secrets` setting): the one place the
credential proxy and `switchboard secret list` read grants from."""

from __future__ import annotations

import sqlite3

import store
from store.group_settings import all_folder_settings


def granted_secrets(conn: sqlite3.Connection, folder: str) -> tuple[str, ...]:
    """The names of the secrets granted to a group folder (none: empty)."""
    return store.folder_settings(conn, folder).secrets


def secret_users(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """secret name -> the folders granted it, sorted."""
    users: dict[str, list[str]] = {}
    for settings in all_folder_settings(conn):
        for name in settings.secrets:
            users.setdefault(name, []).append(settings.folder)
    return users
