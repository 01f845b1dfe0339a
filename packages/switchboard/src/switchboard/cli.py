"""The `switchboard` command: builds the Typer app from the command modules and turns store
errors into one line on stderr and a non-zero exit."""

from __future__ import annotations

import importlib
import importlib.util
import sqlite3
import sys

import store
import typer

app = typer.Typer(
    name="switchboard",
    help="Administer a Switchboard installation (one SQLite file shared by four daemons).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Each module in switchboard.commands registers its own commands; one module per concern.
COMMAND_MODULES = ("core", "groups", "chat", "tasks", "onboarding", "users", "up")
for _name in COMMAND_MODULES:
    if importlib.util.find_spec(f"switchboard.commands.{_name}") is not None:
        importlib.import_module(f"switchboard.commands.{_name}").register(app)

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
