"""Who is looking: the logged-in user and what `user_groups` lets them see (none = operator):
their folders and every folder below them in the folder tree, resolved once per request."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from store.groups import jids_of_folders
from store.hierarchy import parent_map, subtree


@dataclass(slots=True)
class Viewer:
    """The logged-in user of one request; `family` is the session (JWT `sid`). `visible` is
    `folders` and their descendants (viewer_for); never a folder above them."""

    sub: str
    username: str
    folders: tuple[str, ...]
    family: str
    visible: tuple[str, ...] = ()
    _jids: list[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.visible:
            self.visible = self.folders

    @property
    def is_operator(self) -> bool:
        return not self.folders

    @property
    def folder_list(self) -> list[str] | None:
        """The folders to filter queries by; None for an operator (no filter)."""
        return None if self.is_operator else list(self.visible)

    def jids(self, conn: sqlite3.Connection) -> list[str] | None:
        """Chats this user may see; None for an operator (all)."""
        if self.is_operator:
            return None
        if self._jids is None:
            self._jids = jids_of_folders(conn, list(self.visible))
        return self._jids

    def can_see_folder(self, folder: str | None) -> bool:
        return self.is_operator or (folder is not None and folder in self.visible)

    def can_see_jid(self, conn: sqlite3.Connection, jid: str) -> bool:
        visible = self.jids(conn)
        return visible is None or jid in visible

    @property
    def role(self) -> str:
        return "operator" if self.is_operator else "groups: " + ", ".join(self.folders)


def viewer_for(
    conn: sqlite3.Connection, sub: str, username: str, folders: Sequence[str], family: str
) -> Viewer:
    """The viewer of one request: a restricted user sees their folders and every folder below
    them (one read of the folder tree); an operator (no folders) sees everything."""
    granted = tuple(folders)
    visible = tuple(subtree(parent_map(conn), granted)) if granted else ()
    return Viewer(sub, username, granted, family, visible)
