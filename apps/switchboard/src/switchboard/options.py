"""Options and helpers every CLI command shares: --db, --json, opening the store, output."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import store
import typer

from switchboard.schemas import open_all


def sqlite_db_path(text: str) -> Path:
    """The --db value of a command (SQLite only so far): a file path. A PostgreSQL URL or an
    unsupported scheme is refused here, before anything could create a directory from it."""
    try:
        target = store.parse_db(text)
    except store.UnsupportedDatabase as exc:
        raise typer.BadParameter(f"{exc.shown!r} {exc.why}") from None
    if isinstance(target, store.SqliteTarget):
        return target.path
    raise typer.BadParameter(f"{target.shown()!r} {store.sqlite_only('this command')}")


DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        envvar="SWITCHBOARD_DB",
        show_envvar=True,
        parser=sqlite_db_path,
        metavar="PATH",
        help="Database file (default ./data/messages.db).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@contextmanager
def opened(
    db: Path | None, *, must_exist: bool = False, services: bool = True
) -> Iterator[sqlite3.Connection]:
    """Open the store for one command, with the core schema and every service's up to date
    (only the core one without `services`: `doctor` reports the rest, it does not fix it).

    With `must_exist`, a missing file is an error instead of a new empty database.
    """
    path = store.resolve_db_path(db)
    if must_exist and not path.exists():
        raise store.InvalidInput("db", f"no database at {path} (create it: switchboard init)")
    conn = open_all(path) if services else store.open(path)
    try:
        yield conn
    finally:
        conn.close()


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def print_table(headers: list[str], rows: list[list[Any]], empty: str) -> None:
    """A plain aligned table, or the `empty` hint when there are no rows."""
    if not rows:
        typer.echo(empty)
        return
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for i, row in enumerate(cells):
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            typer.echo("  ".join("-" * w for w in widths))
