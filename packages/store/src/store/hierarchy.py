"""The folder tree: each group folder may have a parent folder (`registered_groups.parent`, the
same on every row of a folder). Reading the tree, setting a folder's parent (unknown parents,
cycles and depth refused), and the persona a child without its own reads from its parent."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from store import audit, validate
from store.audit import Actor
from store.connection import tx
from store.errors import InvalidInput, NotFound, UnsafeFile
from store.paths import group_path
from store.persona import persona_template, read_persona

# A folder has at most this many ancestors (parent, grandparent, ...).
MAX_DEPTH: Final = 8
# folder -> parent of every folder that has one; MIN() picks one when rows disagree (written
# before the rule, or by hand), so every reader sees the same parent.
PARENTS_SQL: Final = (
    "SELECT folder, MIN(parent) FROM registered_groups WHERE parent IS NOT NULL GROUP BY folder"
)


# -- pure logic over a parent map ------------------------------------------------------------


def chain(parents: Mapping[str, str], folder: str) -> list[str]:
    """The ancestors of `folder`, nearest first. Stops before a folder already seen (a cycle in
    stored data) and after MAX_DEPTH, so a damaged table never loops a reader."""
    seen = {folder}
    found: list[str] = []
    current = parents.get(folder)
    while current is not None and current not in seen and len(found) < MAX_DEPTH:
        found.append(current)
        seen.add(current)
        current = parents.get(current)
    return found


def children_in(parents: Mapping[str, str], folder: str) -> list[str]:
    """The folders whose parent is `folder`, sorted."""
    return sorted(f for f, p in parents.items() if p == folder)


def subtree(parents: Mapping[str, str], roots: Iterable[str]) -> list[str]:
    """`roots` and every folder below them, sorted (each once, cycles ignored)."""
    below: dict[str, list[str]] = {}
    for f, p in parents.items():
        below.setdefault(p, []).append(f)
    found: set[str] = set()
    todo = list(roots)
    while todo:
        f = todo.pop()
        if f in found:
            continue
        found.add(f)
        todo += below.get(f, [])
    return sorted(found)


def height(parents: Mapping[str, str], folder: str) -> int:
    """How many levels lie below `folder` (0: no children)."""
    below: dict[str, list[str]] = {}
    for f, p in parents.items():
        below.setdefault(p, []).append(f)
    best, seen = 0, {folder}
    todo = [(folder, 0)]
    while todo:
        f, depth = todo.pop()
        best = max(best, depth)
        for child in below.get(f, []):
            if child not in seen:
                seen.add(child)
                todo.append((child, depth + 1))
    return best


def check_parent(parents: Mapping[str, str], folder: str, parent: str) -> None:
    """InvalidInput("parent", ...) when making `parent` the parent of `folder` would close a
    cycle (the message names it) or put a folder below MAX_DEPTH ancestors."""
    if parent == folder:
        raise InvalidInput(
            "parent", f"a folder cannot be its own parent (cycle: {folder} -> {folder})"
        )
    above = chain(parents, parent)
    if folder in above:
        loop = [folder, parent, *above[: above.index(folder) + 1]]
        raise InvalidInput(
            "parent", f"{folder} is an ancestor of {parent} (cycle: {' -> '.join(loop)})"
        )
    depth = 1 + len(above) + height(parents, folder)
    if depth > MAX_DEPTH:
        raise InvalidInput(
            "parent",
            f"{folder} under {parent} would give a folder {depth} ancestors; at most {MAX_DEPTH}",
        )


@dataclass(frozen=True, slots=True)
class TreeRow:
    """One folder of the tree as a page lists it: depth 0 at the top."""

    folder: str
    depth: int
    parent: str | None


def tree_order(parents: Mapping[str, str], folders: Iterable[str]) -> list[TreeRow]:
    """`folders` depth-first, each child right after its parent; a folder whose parent is not
    among `folders` starts a tree of its own (at depth 0)."""
    shown = sorted(set(folders))
    wanted = set(shown)
    below: dict[str, list[str]] = {}
    for f in shown:
        p = parents.get(f)
        if p is not None and p in wanted:
            below.setdefault(p, []).append(f)
    tops = [f for f in shown if parents.get(f) not in wanted]
    rows: list[TreeRow] = []
    seen: set[str] = set()

    def walk(f: str, depth: int) -> None:
        if f in seen:
            return
        seen.add(f)
        rows.append(TreeRow(f, depth, parents.get(f)))
        for child in below.get(f, []):
            walk(child, depth + 1)

    for top in tops:
        walk(top, 0)
    for f in shown:  # only a cycle in stored data leaves any
        walk(f, 0)
    return rows


# -- reading the database --------------------------------------------------------------------


def parent_map(conn: sqlite3.Connection) -> dict[str, str]:
    """folder -> parent for every folder with a parent (one query; the whole tree)."""
    return {str(r[0]): str(r[1]) for r in conn.execute(PARENTS_SQL)}


def folder_parent(conn: sqlite3.Connection, folder: str) -> str | None:
    """The parent of a folder (None: it has none, or no chat is registered to it)."""
    row = conn.execute(
        "SELECT MIN(parent) FROM registered_groups WHERE folder = ? AND parent IS NOT NULL",
        (validate.folder(folder),),
    ).fetchone()
    return str(row[0]) if row and row[0] is not None else None


def ancestors(conn: sqlite3.Connection, folder: str) -> list[str]:
    """Parent, grandparent, ... of a folder, nearest first (at most MAX_DEPTH)."""
    return chain(parent_map(conn), validate.folder(folder))


def children(conn: sqlite3.Connection, folder: str) -> list[str]:
    """The folders whose parent is `folder`, sorted."""
    rows = conn.execute(
        "SELECT DISTINCT folder FROM registered_groups WHERE parent = ? ORDER BY folder",
        (validate.folder(folder),),
    )
    return [str(r[0]) for r in rows]


def descendants(conn: sqlite3.Connection, folder: str) -> list[str]:
    """Every folder below `folder` (children, their children, ...), sorted."""
    return [f for f in subtree(parent_map(conn), [validate.folder(folder)]) if f != folder]


def folder_known(conn: sqlite3.Connection, folder: str) -> bool:
    """Whether a chat is registered to the folder or it has a settings row."""
    row = conn.execute(
        "SELECT 1 FROM registered_groups WHERE folder = :f UNION ALL "
        "SELECT 1 FROM group_settings WHERE folder = :f LIMIT 1",
        {"f": folder},
    ).fetchone()
    return row is not None


# -- writing ---------------------------------------------------------------------------------


def _checked_parent(conn: sqlite3.Connection, folder: str, parent: str) -> None:
    """`parent` known and not closing a cycle or passing MAX_DEPTH (inside the caller's tx)."""
    if parent != folder and not folder_known(conn, parent):
        raise InvalidInput(
            "parent",
            f"no folder {parent!r}: no chat is registered to it and it has no settings",
        )
    check_parent(parent_map(conn), folder, parent)


def set_folder_parent(
    conn: sqlite3.Connection, folder: str, parent: str | None, *, actor: Actor | None = None
) -> str | None:
    """Give a folder a parent (None: no parent), on every registered row of the folder in one
    BEGIN IMMEDIATE transaction. NotFound when no chat is registered to the folder (its rows
    hold the parent); InvalidInput for an unknown parent, a cycle or too deep a tree. With an
    `actor`, logged as `group.parent.set`."""
    validate.folder(folder)
    if parent is not None:
        validate.folder(parent, "parent")
    with tx(conn):
        if not conn.execute(
            "SELECT 1 FROM registered_groups WHERE folder = ? LIMIT 1", (folder,)
        ).fetchone():
            raise NotFound(
                f"no chat is registered to folder {folder!r}, so it cannot have a parent "
                f"(register one: switchboard group add web:{folder} {folder} --parent ...)"
            )
        if parent is not None:
            _checked_parent(conn, folder, parent)
        before = {"parent": folder_parent(conn, folder)}
        conn.execute("UPDATE registered_groups SET parent = ? WHERE folder = ?", (parent, folder))
        after = {"parent": parent}
        audit.record(conn, actor, "group.parent.set", folder, before=before, after=after)
    return parent


def parent_for_new_row(conn: sqlite3.Connection, folder: str, parent: str | None) -> str | None:
    """The parent a new registration to `folder` stores (inside the caller's tx): the
    folder's parent when it has one (an explicit other parent is InvalidInput), else the
    checked explicit one, which then becomes the parent of the folder's other rows too."""
    row = conn.execute(
        "SELECT MIN(parent) FROM registered_groups WHERE folder = ? AND parent IS NOT NULL",
        (folder,),
    ).fetchone()
    current = str(row[0]) if row and row[0] is not None else None
    if current is not None:
        if parent is not None and parent != current:
            raise InvalidInput(
                "parent",
                f"folder {folder} has the parent {current}; change it for the whole folder "
                f"with: switchboard group config {folder} --parent {parent}",
            )
        return current
    if parent is not None:
        _checked_parent(conn, folder, parent)
        conn.execute("UPDATE registered_groups SET parent = ? WHERE folder = ?", (parent, folder))
    return parent


# -- persona ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InheritedPersona:
    """The persona a folder's agent reads from an ancestor (its own is the untouched seed)."""

    folder: str  # the ancestor whose CLAUDE.md it is
    text: str


def _own_persona(conn: sqlite3.Connection, folder: str, *, unsafe_counts: bool) -> str | None:
    """A folder's CLAUDE.md when it is its own (changed from the template); None when it is
    missing or the template. A link or unreadable file counts as its own with `unsafe_counts`
    (returned as ''): an agent must not reach its parent's persona by breaking its own."""
    try:
        text = read_persona(group_path(conn, folder))
    except (UnsafeFile, OSError):
        return "" if unsafe_counts else None
    if text is None or text == persona_template(folder):
        return None
    return text


def inherited_persona(conn: sqlite3.Connection, folder: str) -> InheritedPersona | None:
    """The nearest ancestor's own persona when `folder` has none of its own (no CLAUDE.md, or
    the template unchanged); None when the folder has its own or no ancestor has one."""
    if _own_persona(conn, folder, unsafe_counts=True) is not None:
        return None
    for above in ancestors(conn, folder):
        text = _own_persona(conn, above, unsafe_counts=False)
        if text is not None:
            return InheritedPersona(above, text)
    return None
