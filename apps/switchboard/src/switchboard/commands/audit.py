"""`audit`: the administrative changes of the audit log (store.audit), newest first — who, from
where, what and how it changed — filtered by time, actor, origin, action and target; a table,
or one JSON object per line with --json."""

from __future__ import annotations

import json
from typing import Annotated, Any, Final

import typer
from store import audit as audit_log
from store.audit import AuditEntry, AuditQuery

from switchboard.options import DbOption, JsonOption, opened, print_table

# How much of a change a table cell shows (the JSON output has before and after whole).
CHANGE_CHARS: Final = 70
VALUE_CHARS: Final = 24


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)


def shown(value: Any) -> str:
    """A before/after value in a cell: JSON, cut to VALUE_CHARS; '-' when absent."""
    text = "-" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def fields(value: dict[str, Any]) -> str:
    """`key=value, …` of an object made or removed, without its timestamps (`*_at`)."""
    return ", ".join(f"{k}={shown(v)}" for k, v in sorted(value.items()) if not k.endswith("_at"))


def change_text(entry: AuditEntry) -> str:
    """`new: key=value, …`, `removed: …`, or `key: before → after; …`; cut to CHANGE_CHARS."""
    old, new = entry.before, entry.after
    if old is None and isinstance(new, dict):
        text = "new: " + fields(new)
    elif new is None and isinstance(old, dict):
        text = "removed: " + fields(old)
    else:
        text = "; ".join(
            f"{c.key + ': ' if c.key else ''}{shown(c.before)} → {shown(c.after)}"
            for c in entry.changes()
        )
    return text if len(text) <= CHANGE_CHARS else text[: CHANGE_CHARS - 1] + "…"


def audit(
    since: Annotated[
        str | None,
        typer.Option(help="Only changes from this UTC date (2026-12-01) or time on."),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option(help="Only this actor: an OS user, dashboard user, sender or agent:FOLDER."),
    ] = None,
    origin: Annotated[
        str | None, typer.Option(help=f"Only this origin: {', '.join(audit_log.ORIGINS)}.")
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(help="Only this action, e.g. group.config.set or secret.set."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(help="Only this object: a folder, chat jid, secret, user or task:ID."),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=audit_log.MAX_PAGE, help="How many, newest first.")
    ] = 50,
    before: Annotated[
        int | None,
        typer.Option(min=1, metavar="ID", help="Only entries older than this id (next page)."),
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Administrative changes, newest first: who made each (and from where), what it changed,
    and its values before and after (secret values are never logged)."""
    query = AuditQuery.parse(actor=actor, origin=origin, action=action, target=target, since=since)
    with opened(db, must_exist=True, services=False) as conn:
        found = audit_log.entries(conn, query, before_id=before, limit=limit)
    if as_json:
        for entry in found:
            typer.echo(json.dumps(entry.as_json(), ensure_ascii=False, sort_keys=True))
        return
    print_table(
        ["id", "time (UTC)", "actor", "origin", "from", "action", "target", "change"],
        [
            [
                e.id,
                e.at[:19].replace("T", " "),
                e.actor,
                e.origin,
                e.remote,
                e.action,
                e.target,
                change_text(e),
            ]
            for e in found
        ],
        "no audit entries" + (" matching the filters" if query != AuditQuery() else " yet"),
    )
    if len(found) == limit:
        typer.echo(f"(older entries: add --before {found[-1].id})")
