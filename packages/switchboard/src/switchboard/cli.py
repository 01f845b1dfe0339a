"""The `switchboard` command: builds the Typer app from the command modules and turns store
errors into one line on stderr and a non-zero exit."""

from __future__ import annotations

import sqlite3
import sys

import store
import typer

from switchboard.commands import core, groups

app = typer.Typer(
    name="switchboard",
    help="Administer a Switchboard installation (one SQLite file shared by four daemons).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
core.register(app)
groups.register(app)

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


def main() -> None:
    try:
        app()
    except store.InvalidInput as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except store.NotFound as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except (store.StoreError, sqlite3.Error, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILURE)
