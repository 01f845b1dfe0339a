"""`secret set|list|rm`: credentials gated's credential proxy adds to agents' requests, and chat
adapters' platform tokens for `switchboard up --with`. A value is read from stdin only (never
argv) and stored sealed; no command ever prints one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import store
import typer
from gated import grants, secret_store

from switchboard.cli_actor import cli_actor
from switchboard.options import DbOption, JsonOption, opened, print_json, print_table

secret_app = typer.Typer(
    help="Secrets the credential proxy adds for agents, and chat adapters' tokens (values "
    "never shown).",
    no_args_is_help=True,
)

KeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        envvar="SWITCHBOARD_SECRET_KEY_FILE",
        show_envvar=True,
        help="Key of the secret store (default: secrets.key beside the database).",
    ),
]
ENV_WARNING = "raw value in the agent's environment"
ADAPTER_NOTE = "a chat adapter's token for switchboard up --with; never given to an agent"


def register(app: typer.Typer) -> None:
    app.add_typer(secret_app, name="secret")


def key_file(db: Path | None, key: Path | None) -> Path:
    return key or secret_store.key_file_for(store.resolve_db_path(db))


def read_value() -> str:
    """The value from stdin: asked without echo on a terminal, else all of stdin."""
    if sys.stdin.isatty():
        value: str = typer.prompt("Value", hide_input=True)
        return value
    return sys.stdin.read(secret_store.MAX_VALUE_BYTES + 3)


@secret_app.command("set", context_settings={"allow_extra_args": True})
def secret_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Secret name (a-z, 0-9, '-', '_'), e.g. anthropic.")],
    upstream: Annotated[
        str | None, typer.Option(help="https:// base URL the proxy forwards to.")
    ] = None,
    header: Annotated[
        str | None,
        typer.Option(
            help="Header the proxy sets (default x-api-key for Anthropic, else Authorization)."
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Header value, {} = the secret (default 'Bearer {}' for "
            "Authorization, else '{}').",
        ),
    ] = None,
    expose: Annotated[
        str,
        typer.Option(
            help="proxy (default); env: the raw value as an env var (warned); adapter: a chat "
            "adapter's platform token, read by `switchboard up --with` only (e.g. "
            "telegram-bot-token)."
        ),
    ] = "proxy",
    db: DbOption = None,
    key: KeyFileOption = None,
) -> None:
    """Create or replace a secret; its value is read from standard input."""
    if ctx.args:  # most likely the value itself: refused without echoing it
        raise store.InvalidInput(
            "value", "goes on standard input, never on the command line (ps, shell history)"
        )
    # Everything is checked before the value is read and before the database is opened.
    settings = secret_store.secret_settings(
        name, upstream=upstream, header=header, format=format, expose=expose
    )
    value = secret_store.secret_value(read_value())
    with opened(db) as conn:
        s = secret_store.set_secret(conn, key_file(db, key), settings, value, actor=cli_actor())
    where = {
        "proxy": f"-> {s.upstream} ({s.header})",
        "env": f"({ENV_WARNING})",
        "adapter": f"({ADAPTER_NOTE})",
    }[s.expose]
    typer.echo(f"secret {s.name} set {where}")


@secret_app.command("list")
def secret_list(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List secrets: upstream, header and the groups granted each; never their values."""
    with opened(db) as conn:
        found = secret_store.list_secrets(conn)
        users = grants.secret_users(conn)
    if as_json:
        print_json(
            [
                {
                    "name": s.name,
                    "upstream": s.upstream,
                    "header": s.header,
                    "format": s.format,
                    "expose": s.expose,
                    "groups": users.get(s.name, []),
                    "warning": ENV_WARNING if s.expose == "env" else None,
                    "updated_at": s.updated_at,
                }
                for s in found
            ]
        )
        return
    print_table(
        ["name", "upstream", "header", "expose", "groups"],
        [
            [
                s.name,
                s.upstream or "",
                s.header or "",
                s.expose + (f" (warning: {ENV_WARNING})" if s.expose == "env" else ""),
                ", ".join(users.get(s.name, [])),
            ]
            for s in found
        ],
        "no secrets (add one: switchboard secret set anthropic --upstream "
        "https://api.anthropic.com < key.txt)",
    )


@secret_app.command("rm")
def secret_rm(
    name: Annotated[str, typer.Argument(help="Secret to remove.")], db: DbOption = None
) -> None:
    """Remove a secret (groups granted it lose it at their next run)."""
    secret_store.secret_name(name)
    with opened(db, must_exist=True) as conn:
        secret_store.remove_secret(conn, name, actor=cli_actor())
    typer.echo(f"secret {name} removed")
