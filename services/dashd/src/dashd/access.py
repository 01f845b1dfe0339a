"""Who is looking: the logged-in user and what `user_groups` lets them see (none = operator)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from store.groups import jids_of_folders


@dataclass(slots=True)
class Viewer:
    """The logged-in user of one request; `family` is the session (JWT `sid`)."""

    sub: str
    username: str
    folders: tuple[str, ...]
    family: str
    _jids: list[str] | None = field(default=None, repr=False)

    @property
    def is_operator(self) -> bool:
        return not self.folders

    @property
    def folder_list(self) -> list[str] | None:
        """The folders to filter queries by; None for an operator (no filter)."""
        return None if self.is_operator else list(self.folders)

    def jids(self, conn: sqlite3.Connection) -> list[str] | None:
        """Chats this user may see; None for an operator (all)."""
        if self.is_operator:
            return None
        if self._jids is None:
            self._jids = jids_of_folders(conn, list(self.folders))
        return self._jids

    def can_see_folder(self, folder: str | None) -> bool:
        return self.is_operator or (folder is not None and folder in self.folders)

    def can_see_jid(self, conn: sqlite3.Connection, jid: str) -> bool:
        visible = self.jids(conn)
        return visible is None or jid in visible

    @property
    def role(self) -> str:
        return "operator" if self.is_operator else "groups: " + ", ".join(self.folders)
