"""`switchboard group persona FOLDER` as an operator runs it (the real console script): a new
folder's seeded CLAUDE.md, replaced from stdin or edited in $EDITOR on a terminal (a real pty),
shown with --show; bad input, an unknown folder and a CLAUDE.md the agent swapped for a symlink
are refused with one line on stderr and nothing written."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
import store

CLI = str(Path(sys.executable).parent / "switchboard")
# An $EDITOR: appends its first argument's text to the file it is given, exits with the second.
EDITOR = """
import sys
path = sys.argv[-1]
with open(path, "a", encoding="utf-8") as f:
    f.write(sys.argv[1])
sys.exit(int(sys.argv[2]))
"""


def sb(
    db: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [CLI, *args, "--db", str(db)],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def on_a_terminal(db: Path, folder: str, editor: str) -> subprocess.CompletedProcess[bytes]:
    """`group persona FOLDER` with stdin a pseudo-terminal and EDITOR=`editor`."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [CLI, "group", "persona", folder, "--db", str(db)],
            stdin=follower,
            capture_output=True,
            timeout=60,
            env={**os.environ, "EDITOR": editor},
        )
    finally:
        os.close(follower)
        os.close(leader)
    return proc


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SWITCHBOARD_GROUPS_DIR", raising=False)
    path = tmp_path / "messages.db"
    store.open(path).close()
    assert sb(path, "group", "add", "web:demo", "demo").returncode == 0
    return path


def persona_file(db: Path) -> Path:
    return db.parent / "groups" / "demo" / "CLAUDE.md"


def test_group_add_seeds_the_folder_and_show_prints_it(db: Path) -> None:
    folder = db.parent / "groups" / "demo"
    assert sorted(p.name for p in folder.iterdir()) == ["CLAUDE.md", "memory"]
    shown = sb(db, "group", "persona", "demo", "--show")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.decode() == persona_file(db).read_text()
    assert shown.stdout.startswith(b"# demo\n")


def test_stdin_replaces_the_persona(db: Path) -> None:
    text = "You are a pirate. ☠\nAnswer in rhymes.\n".encode()
    done = sb(db, "group", "persona", "demo", stdin=text)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith(f"demo: persona written ({len(text)} bytes)")
    assert persona_file(db).read_bytes() == text
    assert sb(db, "group", "persona", "demo", "--show").stdout == text
    assert sorted(p.name for p in persona_file(db).parent.iterdir()) == ["CLAUDE.md", "memory"]


def test_on_a_terminal_the_editor_edits_a_copy(db: Path, tmp_path: Path) -> None:
    script = tmp_path / "editor.py"
    script.write_text(EDITOR)
    before = persona_file(db).read_text()

    done = on_a_terminal(db, "demo", f"{sys.executable} {script} 'Be terse.' 0")
    assert done.returncode == 0, done.stderr
    assert b"persona written" in done.stdout
    assert persona_file(db).read_text() == before + "Be terse."

    failed = on_a_terminal(db, "demo", f"{sys.executable} {script} 'Lost edit.' 3")
    assert failed.returncode == 1
    assert failed.stderr == b"error: the editor exited with 3; persona unchanged\n"
    assert persona_file(db).read_text() == before + "Be terse."

    same = on_a_terminal(db, "demo", f"{sys.executable} {script} '' 0")
    assert same.returncode == 0
    assert same.stdout == b"demo: persona unchanged\n"


def test_a_missing_editor_is_one_line(db: Path) -> None:
    done = on_a_terminal(db, "demo", "no-such-editor-here --wait")
    assert done.returncode == 2
    assert done.stderr == b"error: EDITOR: 'no-such-editor-here' was not found\n"


def test_a_symlink_planted_by_the_agent_is_not_written_through(db: Path) -> None:
    """The agent can write its folder: it replaces CLAUDE.md by a link to the secrets' key
    beside the database, so that the operator's next persona edit would overwrite it."""
    victim = db.parent / "secrets.key"
    victim.write_bytes(b"KEY-MATERIAL")
    persona_file(db).unlink()
    persona_file(db).symlink_to(victim)
    done = sb(db, "group", "persona", "demo", stdin=b"overwritten?")
    assert done.returncode == 1
    assert done.stdout == b""
    assert done.stderr.decode().startswith("error: ")
    assert "symlink; refusing to write through it" in done.stderr.decode()
    assert done.stderr.count(b"\n") == 1
    assert victim.read_bytes() == b"KEY-MATERIAL"
    assert persona_file(db).is_symlink()
    shown = sb(db, "group", "persona", "demo", "--show")
    assert shown.returncode == 1
    assert b"is a symlink, not a plain file; not read" in shown.stderr
    assert b"KEY-MATERIAL" not in shown.stdout + shown.stderr


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"x" * (64 * 1024 + 1), "error: persona: is 65537 bytes; at most 65536 are allowed\n"),
        (b"caf\xe9", "error: persona: is not UTF-8 text (byte 3)\n"),
    ],
)
def test_bad_input_is_refused(db: Path, data: bytes, message: str) -> None:
    before = persona_file(db).read_bytes()
    done = sb(db, "group", "persona", "demo", stdin=data)
    assert done.returncode == 2
    assert done.stderr.decode() == message
    assert persona_file(db).read_bytes() == before


def test_an_unknown_folder_is_one_line_and_exit_2(db: Path) -> None:
    done = sb(db, "group", "persona", "nope", stdin=b"x")
    assert done.returncode == 2
    assert done.stderr.decode().startswith("error: no group folder 'nope'")
    assert done.stderr.count(b"\n") == 1
    assert not (db.parent / "groups" / "nope").exists()
