"""Who is looking: the logged-in user and what `user_groups` lets them see (none = operator):
their folders and every folder below them in the folder tree, resolved once per request.
Pages filter lists by `folder_list` in SQL (a folder may have tens of thousands of share-link
visitor chats: their jids are never read into Python)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from store.groups import get_group
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

    def can_see_folder(self, folder: str | None) -> bool:
        return self.is_operator or (folder is not None and folder in self.visible)

    def can_see_jid(self, conn: sqlite3.Connection, jid: str) -> bool:
        """A chat registered to a visible folder, or a visible folder's web chat."""
        if self.is_operator or jid in {f"web:{f}" for f in self.visible}:
            return True
        group = get_group(conn, jid)
        return group is not None and group.folder in self.visible

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
