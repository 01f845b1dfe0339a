"""The folder tree: a folder's parent is the folder's (every row the same), unknown parents,
cycles and too deep a tree are refused, and settings and personas come down the tree."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import store
from hypothesis import given
from hypothesis import strategies as st
from store import hierarchy
from store.group_settings import setting_lines, stored_settings
from store.paths import group_path
from store.persona import PERSONA_FILE


def parents_of(db: sqlite3.Connection, folder: str) -> set[str | None]:
    rows = db.execute("SELECT parent FROM registered_groups WHERE folder = ?", (folder,))
    return {r[0] for r in rows}


def test_registering_another_chat_takes_the_folders_parent(db: sqlite3.Connection) -> None:
    store.register_group(db, "web:org", "org")
    store.register_group(db, "web:team", "team", parent="org")
    second = store.register_group(db, "email:team@x.org", "team")
    assert second.parent == "org"
    assert parents_of(db, "team") == {"org"}
    assert hierarchy.folder_parent(db, "team") == "org"
    assert hierarchy.children(db, "org") == ["team"]


def test_a_conflicting_parent_on_registration_is_refused(db: sqlite3.Connection) -> None:
    store.register_group(db, "web:org", "org")
    store.register_group(db, "web:other", "other")
    store.register_group(db, "web:team", "team", parent="org")
    with pytest.raises(store.InvalidInput, match="folder team has the parent org") as err:
        store.register_group(db, "web:team2", "team", parent="other")
    assert err.value.field == "parent"
    assert store.get_group(db, "web:team2") is None


def test_an_explicit_parent_on_a_new_chat_becomes_the_whole_folders(
    db: sqlite3.Connection,
) -> None:
    store.register_group(db, "web:org", "org")
    store.register_group(db, "web:team", "team")
    store.register_group(db, "email:t@x.org", "team", parent="org")
    assert parents_of(db, "team") == {"org"}


def test_set_folder_parent_updates_every_row_of_the_folder(db: sqlite3.Connection) -> None:
    for jid in ("web:a", "email:a@x.org", "web:a2"):
        store.register_group(db, jid, "a")
    store.register_group(db, "web:p", "p")
    assert hierarchy.set_folder_parent(db, "a", "p") == "p"
    assert parents_of(db, "a") == {"p"}
    hierarchy.set_folder_parent(db, "a", None)
    assert parents_of(db, "a") == {None}


def test_an_unknown_parent_is_refused(db: sqlite3.Connection) -> None:
    store.register_group(db, "web:a", "a")
    with pytest.raises(store.InvalidInput, match="no folder 'ghost'"):
        hierarchy.set_folder_parent(db, "a", "ghost")
    with pytest.raises(store.InvalidInput, match="no folder 'ghost'"):
        store.register_group(db, "web:b", "b", parent="ghost")
    assert store.get_group(db, "web:b") is None


def test_a_folder_with_only_settings_may_be_a_parent(db: sqlite3.Connection) -> None:
    store.update_folder_settings(db, "template", {"timeout_s": "5"}, [])
    store.register_group(db, "web:a", "a", parent="template")
    assert store.folder_settings(db, "a").timeout_s == 5.0


def test_a_folder_without_chats_cannot_be_given_a_parent(db: sqlite3.Connection) -> None:
    store.register_group(db, "web:p", "p")
    with pytest.raises(store.NotFound, match="no chat is registered to folder 'lonely'"):
        hierarchy.set_folder_parent(db, "lonely", "p")


def test_cycles_are_refused_with_the_cycle_named(db: sqlite3.Connection) -> None:
    for f in ("a", "b", "c"):
        store.register_group(db, f"web:{f}", f)
    hierarchy.set_folder_parent(db, "b", "a")
    hierarchy.set_folder_parent(db, "c", "b")
    with pytest.raises(store.InvalidInput, match=r"cycle: a -> c -> b -> a"):
        hierarchy.set_folder_parent(db, "a", "c")
    with pytest.raises(store.InvalidInput, match=r"own parent \(cycle: a -> a\)"):
        hierarchy.set_folder_parent(db, "a", "a")
    with pytest.raises(store.InvalidInput, match="cycle"):
        store.register_group(db, "web:a2", "a", parent="a")
    assert hierarchy.folder_parent(db, "a") is None
    assert hierarchy.ancestors(db, "c") == ["b", "a"]
    assert hierarchy.descendants(db, "a") == ["b", "c"]


def test_the_tree_is_at_most_max_depth_deep(db: sqlite3.Connection) -> None:
    names = [f"l{i}" for i in range(hierarchy.MAX_DEPTH + 2)]
    for name in names:
        store.register_group(db, f"web:{name}", name)
    for child, parent in zip(names[1 : hierarchy.MAX_DEPTH + 1], names, strict=False):
        hierarchy.set_folder_parent(db, child, parent)
    assert len(hierarchy.ancestors(db, names[hierarchy.MAX_DEPTH])) == hierarchy.MAX_DEPTH
    last = names[hierarchy.MAX_DEPTH + 1]
    with pytest.raises(store.InvalidInput, match=f"ancestors; at most {hierarchy.MAX_DEPTH}"):
        hierarchy.set_folder_parent(db, last, names[hierarchy.MAX_DEPTH])
    # Hanging a deep subtree under another folder counts the levels below it too.
    store.register_group(db, "web:top", "top")
    with pytest.raises(store.InvalidInput, match="ancestors"):
        hierarchy.set_folder_parent(db, names[0], "top")


def test_a_cycle_written_by_hand_does_not_loop_readers(db: sqlite3.Connection) -> None:
    store.register_group(db, "web:a", "a")
    store.register_group(db, "web:b", "b")
    with store.tx(db):
        db.execute("UPDATE registered_groups SET parent = 'b' WHERE folder = 'a'")
        db.execute("UPDATE registered_groups SET parent = 'a' WHERE folder = 'b'")
    assert hierarchy.ancestors(db, "a") == ["b"]
    assert hierarchy.descendants(db, "a") == ["b"]
    assert store.folder_settings(db, "a").folder == "a"
    assert [r.folder for r in hierarchy.tree_order(hierarchy.parent_map(db), ["a", "b"])] == [
        "a",
        "b",
    ]


def test_settings_come_down_three_levels_and_the_nearest_wins(db: sqlite3.Connection) -> None:
    store.register_group(db, "web:org", "org")
    store.register_group(db, "web:dept", "dept", parent="org")
    store.register_group(db, "web:team", "team", parent="dept")
    store.update_folder_settings(
        db,
        "org",
        {"command": "org-agent", "timeout_s": "30", "env.A": "org", "env.B": "org"},
        [],
    )
    store.update_folder_settings(db, "dept", {"timeout_s": "20", "env.B": "dept"}, [])
    store.update_folder_settings(db, "team", {"memory_mb": "256"}, [])
    team = store.folder_settings(db, "team")
    assert (team.command, team.timeout_s, team.memory_mb) == ("org-agent", 20.0, 256)
    assert dict(team.env) == {"A": "org", "B": "dept"}
    assert stored_settings(db, "team") == {"memory_mb": 256}  # nothing copied down
    sources = {line.key: line.source for line in setting_lines(db, "team")}
    assert sources["command"] == "inherited from org"
    assert sources["timeout_s"] == "inherited from dept"
    assert sources["memory_mb"] == "own"
    assert sources["env.A"] == "inherited from org"
    assert sources["env.B"] == "inherited from dept"
    assert sources["pids"] == "default"
    # An override in the child wins; unsetting it brings the parent's back.
    store.update_folder_settings(db, "team", {"command": "team-agent"}, [])
    assert store.folder_settings(db, "team").command == "team-agent"
    store.update_folder_settings(db, "team", {}, ["command"])
    assert store.folder_settings(db, "team").command == "org-agent"
    # A child inherits grants too, and may turn one off for itself.
    store.update_folder_settings(db, "org", {"grants.operator": "true", "secrets": "k"}, [])
    assert store.folder_settings(db, "team").grants_operator
    store.update_folder_settings(db, "team", {"grants.operator": "false", "secrets": ""}, [])
    team = store.folder_settings(db, "team")
    assert (team.grants_operator, team.secrets) == (False, ())
    assert {s.folder for s in store.group_settings.all_folder_settings(db)} == {
        "org",
        "dept",
        "team",
    }


def test_a_child_with_the_untouched_template_reads_its_parents_persona(
    db: sqlite3.Connection,
) -> None:
    store.register_group(db, "web:org", "org")
    store.register_group(db, "web:team", "team", parent="org")
    org, team = group_path(db, "org", create=True), group_path(db, "team", create=True)
    assert hierarchy.inherited_persona(db, "team") is None  # both are the template
    (org / PERSONA_FILE).write_text("# Org\nYou answer for the org.\n")
    got = hierarchy.inherited_persona(db, "team")
    assert got == hierarchy.InheritedPersona("org", "# Org\nYou answer for the org.\n")
    (team / PERSONA_FILE).write_text("# Team\nOur own.\n")
    assert hierarchy.inherited_persona(db, "team") is None


def test_a_child_cannot_reach_its_parents_persona_through_a_link(
    db: sqlite3.Connection, tmp_path: Path
) -> None:
    store.register_group(db, "web:org", "org")
    store.register_group(db, "web:team", "team", parent="org")
    org, team = group_path(db, "org", create=True), group_path(db, "team", create=True)
    (org / PERSONA_FILE).write_text("org persona")
    (team / PERSONA_FILE).unlink()
    (team / PERSONA_FILE).symlink_to(tmp_path / "elsewhere")
    assert hierarchy.inherited_persona(db, "team") is None


FOLDERS = st.sampled_from(["a", "b", "c", "d", "e", "f"])


@given(st.dictionaries(FOLDERS, FOLDERS, max_size=6), FOLDERS, FOLDERS)
def test_check_parent_never_lets_a_cycle_in(
    parents: dict[str, str], folder: str, parent: str
) -> None:
    # Start from a tree without cycles: drop any edge that would close one.
    tree: dict[str, str] = {}
    for child, above in sorted(parents.items()):
        try:
            hierarchy.check_parent(tree, child, above)
        except store.InvalidInput:
            continue
        tree[child] = above
    try:
        hierarchy.check_parent(tree, folder, parent)
    except store.InvalidInput:
        return
    tree[folder] = parent
    for f in tree:
        seen = {f}
        current = tree.get(f)
        while current is not None:
            assert current not in seen
            seen.add(current)
            current = tree.get(current)
        assert len(seen) - 1 <= hierarchy.MAX_DEPTH
