"""The `switchboard` command: builds the Typer app from the command modules and turns store
errors into one line on stderr and a non-zero exit."""

from __future__ import annotations

import sqlite3
import sys

import store
import typer
from gated.errors import GatedError
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from switchboard.commands import (
    audit,
    chat,
    core,
    groups,
    onboarding,
    persona,
    runs,
    secrets,
    tasks,
    up,
    usage,
    users,
)

app = typer.Typer(
    name="switchboard",
    help="Administer a Switchboard installation (one SQLite file shared by four daemons).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Each module in switchboard.commands registers its own commands; one module per concern.
COMMAND_MODULES = (
    core, groups, persona, chat, tasks, runs, usage, audit, onboarding, users, secrets, up
)  # fmt: skip
for _module in COMMAND_MODULES:
    _module.register(app)

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


def main() -> None:
    """Run the CLI; every error ends as ONE line on stderr and a non-zero exit code.

    Commands return None; a command that wants another exit code raises typer.Exit(code).
    """
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:  # the help was printed already
        sys.exit(exc.exit_code)
    except UsageError as exc:
        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        fail(f"{exc.format_message()}{hint}", exc.exit_code)
    except ClickException as exc:
        fail(exc.format_message(), exc.exit_code)
    except typer.Abort:
        fail("aborted", EXIT_FAILURE)
    except (store.InvalidInput, store.NotFound) as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except (store.StoreError, GatedError, sqlite3.Error, OSError) as exc:
        fail(str(exc), EXIT_FAILURE)
    sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)


def fail(message: str, code: int) -> None:
    """Print one line on stderr and exit with `code`."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
