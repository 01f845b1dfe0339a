"""A new group folder starts with its persona (CLAUDE.md from the template, its name filled in)
and memory/; an existing one is never re-seeded; an unused seed can be removed; the persona is
read and replaced without ever following a link the agent planted, or blocking on a FIFO."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import store
from hypothesis import given
from hypothesis import strategies as st
from store.paths import group_path, remove_unused_group_dir
from store.persona import (
    MAX_PERSONA_BYTES,
    check_persona,
    is_unused_group_dir,
    persona_template,
    read_persona,
    seed_group_dir,
    write_persona,
)


@pytest.fixture
def groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "groups"
    monkeypatch.setenv("SWITCHBOARD_GROUPS_DIR", str(path))
    return path


def test_a_new_folder_gets_its_persona_and_memory(db: sqlite3.Connection, groups: Path) -> None:
    path = group_path(db, "garden-club", create=True)
    assert sorted(p.name for p in path.iterdir()) == ["CLAUDE.md", "memory"]
    persona = (path / "CLAUDE.md").read_text()
    assert persona.startswith("# garden-club\n")
    assert "switchboard group persona garden-club" in persona
    assert "$SWITCHBOARD_SKILLS" in persona
    assert "$folder" not in persona
    assert (path / "memory").is_dir()
    assert not any((path / "memory").iterdir())


def test_an_existing_folder_is_never_seeded_or_overwritten(
    db: sqlite3.Connection, groups: Path
) -> None:
    edited = groups / "demo"
    edited.mkdir(parents=True)
    (edited / "CLAUDE.md").write_text("my own persona")
    group_path(db, "demo", create=True)
    assert (edited / "CLAUDE.md").read_text() == "my own persona"
    assert not (edited / "memory").exists()

    busy = groups / "busy"
    busy.mkdir()
    (busy / "agent.py").write_text("print()")
    group_path(db, "busy", create=True)
    assert [p.name for p in busy.iterdir()] == ["agent.py"]

    seeded = group_path(db, "again", create=True)
    (seeded / "CLAUDE.md").write_text("changed by the operator")
    group_path(db, "again", create=True)
    assert (seeded / "CLAUDE.md").read_text() == "changed by the operator"


def test_seeding_twice_writes_the_persona_once(tmp_path: Path) -> None:
    assert seed_group_dir(tmp_path, "x") is True
    assert seed_group_dir(tmp_path, "x") is False


def test_only_an_untouched_seed_is_unused(db: sqlite3.Connection, groups: Path) -> None:
    path = group_path(db, "world", create=True)
    assert is_unused_group_dir(path, "world")
    (path / "memory" / "note.md").write_text("remember this")
    assert not is_unused_group_dir(path, "world")
    assert remove_unused_group_dir(db, "world") is False
    assert path.is_dir()
    (path / "memory" / "note.md").unlink()
    (path / "CLAUDE.md").write_text(persona_template("world") + "one more line\n")
    assert remove_unused_group_dir(db, "world") is False
    (path / "CLAUDE.md").write_text(persona_template("world"))
    assert remove_unused_group_dir(db, "world") is True
    assert not path.exists()
    assert remove_unused_group_dir(db, "world") is False


def test_the_persona_is_replaced_atomically(tmp_path: Path) -> None:
    seed_group_dir(tmp_path, "demo")
    write_persona(tmp_path, "Be a pirate. ☠\n".encode())
    assert read_persona(tmp_path) == "Be a pirate. ☠\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CLAUDE.md", "memory"]  # no temp left
    assert (tmp_path / "CLAUDE.md").stat().st_mode & 0o777 == 0o644


def test_a_planted_symlink_is_neither_written_through_nor_read(tmp_path: Path) -> None:
    """The agent owns its folder: it may replace CLAUDE.md by a link to a file of the
    operator's (here the "database"), hoping the operator's next persona edit overwrites it
    or the dashboard shows it."""
    folder = tmp_path / "groups" / "demo"
    folder.mkdir(parents=True)
    victim = tmp_path / "messages.db"
    victim.write_bytes(b"precious")
    (folder / "CLAUDE.md").symlink_to(victim)
    with pytest.raises(store.UnsafeFile, match="symlink"):
        write_persona(folder, b"new persona")
    assert victim.read_bytes() == b"precious"
    assert (folder / "CLAUDE.md").is_symlink()
    with pytest.raises(store.UnsafeFile, match="is a symlink"):
        read_persona(folder)
    assert not is_unused_group_dir(folder, "demo")


def test_a_planted_fifo_or_directory_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "CLAUDE.md")
    with pytest.raises(store.UnsafeFile):
        read_persona(tmp_path)
    with pytest.raises(store.UnsafeFile):
        write_persona(tmp_path, b"x")
    (tmp_path / "CLAUDE.md").unlink()
    (tmp_path / "CLAUDE.md").mkdir()
    with pytest.raises(store.UnsafeFile):
        read_persona(tmp_path)
    with pytest.raises(store.UnsafeFile):
        write_persona(tmp_path, b"x")


def test_no_persona_reads_as_none(tmp_path: Path) -> None:
    assert read_persona(tmp_path) is None


def test_persona_size_and_encoding_are_checked(tmp_path: Path) -> None:
    assert check_persona(b"x" * MAX_PERSONA_BYTES) == "x" * MAX_PERSONA_BYTES
    with pytest.raises(store.InvalidInput, match="at most 65536"):
        write_persona(tmp_path, b"x" * (MAX_PERSONA_BYTES + 1))
    with pytest.raises(store.InvalidInput, match="not UTF-8"):
        write_persona(tmp_path, b"caf\xe9")
    with pytest.raises(store.InvalidInput, match="NUL"):
        write_persona(tmp_path, b"a\x00b")
    assert not (tmp_path / "CLAUDE.md").exists()


@given(st.binary(max_size=300))
def test_check_persona_accepts_exactly_utf8_without_nul(data: bytes) -> None:
    try:
        expected: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        expected = None
    if expected is not None and "\x00" in expected:
        expected = None
    if expected is None:
        with pytest.raises(store.InvalidInput):
            check_persona(data)
    else:
        assert check_persona(data) == expected
