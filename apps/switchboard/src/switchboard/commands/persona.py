"""`group persona FOLDER`: show or replace a group's persona (its folder's CLAUDE.md), from
stdin or in $EDITOR on a private copy; written through `store.persona.write_persona`."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any, Final

import store
import typer
from store import audit
from store.paths import group_path
from store.persona import (
    MAX_PERSONA_BYTES,
    PERSONA_FILE,
    check_persona,
    read_persona,
    write_persona,
)

from switchboard.cli_actor import cli_actor
from switchboard.commands.groups import group_app, require_folder
from switchboard.options import DbOption, opened

DEFAULT_EDITOR: Final = "vi"


def register(app: typer.Typer) -> None:
    group_app.command("persona")(group_persona)


def group_persona(
    folder: Annotated[str, typer.Argument(help="Group folder (see group list).")],
    show: Annotated[
        bool, typer.Option("--show", help="Print the persona and change nothing.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Edit a folder's persona (CLAUDE.md): read from stdin when it is not a terminal, else
    opened in $EDITOR (default vi) and written back when the editor exits 0."""
    store.validate.folder(folder)
    with opened(db, must_exist=True, services=False) as conn:
        require_folder(conn, folder)
        path = group_path(conn, folder, create=True)
    if show:
        current = read_persona(path)
        if current is None:
            raise store.NotFound(
                f"{path / PERSONA_FILE} does not exist (write one: "
                f"switchboard group persona {folder} < FILE)"
            )
        typer.echo(current, nl=not current.endswith("\n"))
        return
    if sys.stdin.isatty():
        new = edited(read_persona(path) or "", folder)
        if new is None:
            typer.echo(f"{folder}: persona unchanged")
            return
    else:
        new = sys.stdin.buffer.read(MAX_PERSONA_BYTES + 1)
    actor = cli_actor()
    with opened(db, must_exist=True, services=False) as conn, store.tx(conn):
        # Logged first: a write that fails rolls its row back with it.
        before, after = facts_on_disk(path), persona_facts(check_persona(new))
        audit.record(conn, actor, "persona.set", folder, before=before, after=after)
        write_persona(path, new)
    typer.echo(f"{folder}: persona written ({len(new)} bytes) to {path / PERSONA_FILE}")


def persona_facts(text: str | None) -> dict[str, Any] | None:
    """A persona as the audit log records it: its size and SHA-256 (the text stays in the
    folder's CLAUDE.md); None when there is none."""
    if text is None:
        return None
    data = text.encode("utf-8")
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def facts_on_disk(path: Path) -> dict[str, Any] | None:
    """The facts of the folder's CLAUDE.md as it is; None when there is none, or when it is
    not a plain file (write_persona then refuses, with the reason, and nothing is logged)."""
    try:
        return persona_facts(read_persona(path))
    except store.UnsafeFile:
        return None


def edited(current: str, folder: str) -> bytes | None:
    """The persona after the operator edited a private copy in $EDITOR; None when unchanged.
    A non-zero exit of the editor changes nothing."""
    command = shlex.split(os.environ.get("EDITOR", "")) or [DEFAULT_EDITOR]
    with tempfile.TemporaryDirectory(prefix="switchboard-persona-") as tmp:
        copy = Path(tmp) / f"{folder}-{PERSONA_FILE}"
        copy.write_text(current, encoding="utf-8")
        try:
            code = subprocess.call([*command, str(copy)])
        except FileNotFoundError:
            raise store.InvalidInput("EDITOR", f"{command[0]!r} was not found") from None
        if code != 0:
            raise store.StoreError(f"the editor exited with {code}; persona unchanged")
        with copy.open("rb") as f:
            data = f.read(MAX_PERSONA_BYTES + 1)
    return None if data == current.encode("utf-8") else data
