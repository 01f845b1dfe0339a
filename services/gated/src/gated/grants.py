"""Which secrets each group folder is granted: the one place the credential proxy and
`switchboard secret list` read grants from.

Until the folder settings table (issue 15, item 1) is merged, a folder's grants are the
`secrets` list in the `agent_config` of its first-registered chat; at the merge both functions
read `store.folder_settings(conn, folder).secrets` instead."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import store
from store import Group


def _first_registered(groups: Iterable[Group]) -> dict[str, Group]:
    by_folder: dict[str, Group] = {}
    for g in sorted(groups, key=lambda g: (g.created_at, g.jid)):
        by_folder.setdefault(g.folder, g)
    return by_folder


def _names(group: Group) -> tuple[str, ...]:
    raw = group.agent_config.get("secrets") or []
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list):
        return ()
    return tuple(dict.fromkeys(str(n).strip() for n in raw if str(n).strip()))


def granted_secrets(conn: sqlite3.Connection, folder: str) -> tuple[str, ...]:
    """The names of the secrets granted to a group folder (none: empty)."""
    group = _first_registered(store.groups_for_folder(conn, folder)).get(folder)
    return _names(group) if group else ()


def secret_users(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """secret name -> the folders granted it, sorted."""
    users: dict[str, list[str]] = {}
    for folder, group in sorted(_first_registered(store.registered_groups(conn)).items()):
        for name in _names(group):
            users.setdefault(name, []).append(folder)
    return users
