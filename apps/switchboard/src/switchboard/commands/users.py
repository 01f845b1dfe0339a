"""`user add|list|rm|passwd`: dashboard accounts (argon2id hashes; groups limit what they see)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from dashd import users

from switchboard.cli_actor import cli_actor
from switchboard.options import DbOption, JsonOption, opened, print_json, print_table

user_app = typer.Typer(help="Dashboard users (who may sign in to dashd).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")


PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin (no prompt)."
    ),
]


def read_password(from_stdin: bool) -> str:
    """The new password: stdin's first line, or asked twice on the terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group", help="Limit the user to this group folder (repeatable; none = operator)."
        ),
    ] = None,
    password_stdin: PasswordStdin = False,
    db: DbOption = None,
) -> None:
    """Add a dashboard user (operator unless --group is given)."""
    password = read_password(password_stdin)
    with opened(db) as conn:
        user = users.add_user(conn, name, password, group or [], actor=cli_actor())
    scope = ", ".join(user.folders) if user.folders else "operator (all groups)"
    typer.echo(f"added user {user.username}: {scope}")


@user_app.command("list")
def user_list(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List dashboard users and the groups they may see."""
    with opened(db) as conn:
        found = users.list_users(conn)
    if as_json:
        print_json(
            [
                {
                    "username": u.username,
                    "folders": list(u.folders),
                    "operator": u.is_operator,
                    "created_at": u.created_at,
                }
                for u in found
            ]
        )
        return
    print_table(
        ["user", "groups", "created"],
        [[u.username, ", ".join(u.folders) or "(operator)", u.created_at] for u in found],
        "no dashboard users (add one: switchboard user add admin)",
    )


@user_app.command("rm")
def user_rm(name: Annotated[str, typer.Argument(help="Login name.")], db: DbOption = None) -> None:
    """Remove a dashboard user and sign out all their sessions."""
    with opened(db) as conn:
        users.remove_user(conn, name, actor=cli_actor())
    typer.echo(f"removed user {name}")


@user_app.command("passwd")
def user_passwd(
    name: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: PasswordStdin = False,
    db: DbOption = None,
) -> None:
    """Set a user's password (signs out all their sessions)."""
    password = read_password(password_stdin)
    with opened(db) as conn:
        users.set_password(conn, name, password, actor=cli_actor())
    typer.echo(f"password changed for {name}; their sessions were signed out")
