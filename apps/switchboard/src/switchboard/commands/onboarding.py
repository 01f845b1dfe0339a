"""`onboarding list|approve|reject`: the queue of unknown chats, decided through onbod's API."""

from __future__ import annotations

import dataclasses
import getpass
from typing import Annotated

import typer
from onbod import api
from onbod.models import STATUSES, Decision

from switchboard.cli_actor import cli_actor
from switchboard.options import DbOption, JsonOption, opened, print_json, print_table

onboarding_app = typer.Typer(
    help="Unknown chats asking for a world: list them, approve or reject.", no_args_is_help=True
)
FIRST_MESSAGE_COLUMN = 40
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who decides (default: cli:<your user name>).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(onboarding_app, name="onboarding")


def _by(by: str | None) -> str:
    return by or f"cli:{getpass.getuser()}"


def _short(text: str | None) -> str:
    one_line = " ".join((text or "").split())
    if len(one_line) <= FIRST_MESSAGE_COLUMN:
        return one_line
    return one_line[: FIRST_MESSAGE_COLUMN - 1] + "…"


def _finish(decision: Decision, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "ok": decision.ok,
                "message": decision.message,
                "onboarding": dataclasses.asdict(decision.onboarding)
                if decision.onboarding
                else None,
            }
        )
    if not decision.ok:
        if not as_json:
            typer.echo(f"error: {decision.message}", err=True)
        raise typer.Exit(1)
    if not as_json:
        typer.echo(decision.message)


@onboarding_app.command("list")
def onboarding_list(
    db: DbOption = None,
    as_json: JsonOption = False,
    status: Annotated[
        str | None, typer.Option("--status", help=f"Only this status: {', '.join(STATUSES)}.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows (newest first).")] = 200,
) -> None:
    """List onboarding requests, newest first."""
    with opened(db) as conn:
        rows = api.list_onboarding(conn, status, limit)  # type: ignore[arg-type]
    if as_json:
        print_json([dataclasses.asdict(r) for r in rows])
        return
    print_table(
        ["jid", "status", "world", "first message", "created", "decided by"],
        [
            [r.jid, r.status, r.world_name, _short(r.first_message), r.created_at, r.decided_by]
            for r in rows
        ],
        "no onboarding requests" + (f" with status {status}" if status else ""),
    )


@onboarding_app.command("approve")
def onboarding_approve(
    jid: Annotated[str, typer.Argument(help="The pending chat's jid, e.g. tg:12345.")],
    db: DbOption = None,
    by: ByOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a pending request: register its world and answer its first message."""
    with opened(db) as conn:
        decision = api.approve(conn, jid, _by(by), actor=cli_actor())
    _finish(decision, as_json)


@onboarding_app.command("reject")
def onboarding_reject(
    jid: Annotated[str, typer.Argument(help="The chat's jid, e.g. tg:12345.")],
    db: DbOption = None,
    reason: Annotated[str, typer.Option(help="Told to the sender.")] = "",
    by: ByOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reject a request (pending or still naming); the sender is told, with the reason."""
    with opened(db) as conn:
        decision = api.reject(conn, jid, _by(by), reason, actor=cli_actor())
    _finish(decision, as_json)
