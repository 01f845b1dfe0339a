"""`runs list|show`: the agent runs of the session log and, per run, every tool call the agent
made (gated's audit, `gated.tools.audit`), oldest first."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from typing import Annotated, Any, Final

import store
import typer
from gated.tools.audit import ToolCall, call_counts, calls_of_run
from store.models import SessionRun

from switchboard.options import DbOption, JsonOption, opened, print_json, print_table

runs_app = typer.Typer(help="Agent runs and the tool calls each one made.", no_args_is_help=True)

# How much of a long text a table cell shows (the JSON output has it whole).
ERROR_CHARS: Final = 60
ARGS_CHARS: Final = 60
RESULT_CHARS: Final = 40


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")


def shorten(text: str | None, limit: int) -> str:
    """One line of at most `limit` characters (whitespace folded; `…` when cut)."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def clock(stamp: str | None) -> str:
    """A stored time as `YYYY-MM-DD HH:MM:SS`."""
    return (stamp or "")[:19].replace("T", " ")


def find_run(conn: sqlite3.Connection, run_id: int) -> SessionRun:
    """The session_log row `run_id`, or NotFound."""
    found = store.session_runs(conn, before_id=run_id + 1, limit=1)
    if not found or found[0].id != run_id:
        raise store.NotFound(f"no run with id {run_id} (see: switchboard runs list)")
    return found[0]


def call_json(call: ToolCall) -> dict[str, Any]:
    data = asdict(call)
    data["args"] = args_value(call.args)
    data["result"] = call.result_value()
    return data


def args_value(text: str) -> Any:
    """The stored arguments as JSON, or the stored text when it was cut (no longer JSON)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@runs_app.command("list")
def runs_list(
    folder: Annotated[str | None, typer.Option(help="Only this group folder's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many, newest first.")] = 50,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recent agent runs, newest first, with how many tool calls each made."""
    if folder is not None:
        store.validate.folder(folder)
    with opened(db, must_exist=True, services=False) as conn:
        got = store.session_runs(conn, group_folder=folder, limit=limit)
        counts = call_counts(conn, [r.id for r in got])
    if as_json:
        print_json([{**asdict(r), "tool_calls": counts.get(r.id, 0)} for r in got])
        return
    print_table(
        ["run", "folder", "chat", "topic", "started", "ended", "result", "calls", "error"],
        [
            [
                r.id,
                r.group_folder,
                r.chat_jid,
                r.topic,
                clock(r.started_at),
                clock(r.ended_at) or "running",
                r.result or "running",
                counts.get(r.id, 0),
                shorten(r.error, ERROR_CHARS),
            ]
            for r in got
        ],
        "no agent runs yet" + (f" of {folder}" if folder else ""),
    )


@runs_app.command("show")
def runs_show(
    run_id: Annotated[int, typer.Argument(help="Run id (see runs list).")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """One run: its session-log row and every tool call it made, in order."""
    with opened(db, must_exist=True, services=False) as conn:
        run = find_run(conn, run_id)
        calls = calls_of_run(conn, run_id)
    if as_json:
        print_json({**asdict(run), "tool_calls": [call_json(c) for c in calls]})
        return
    typer.echo(f"run {run.id}: {run.group_folder}, chat {run.chat_jid or '-'}")
    typer.echo(f"  topic    {run.topic or '(default)'}")
    typer.echo(f"  session  {run.session_id or '-'}")
    typer.echo(f"  started  {clock(run.started_at)}")
    typer.echo(f"  ended    {clock(run.ended_at) or 'running'}")
    typer.echo(f"  result   {run.result or 'running'}")
    if run.error:
        typer.echo(f"  error    {shorten(run.error, 300)}")
    typer.echo("")
    print_table(
        ["time", "tool", "status", "ms", "args", "error", "result"],
        [
            [
                c.started_at[11:23],
                c.tool,
                c.status + (" (replay)" if c.replay_of is not None else ""),
                f"{c.duration_ms:.1f}",
                shorten(c.args, ARGS_CHARS),
                shorten(f"{c.error_code}: {c.error}" if c.error_code else "", ERROR_CHARS),
                shorten(c.result, RESULT_CHARS),
            ]
            for c in calls
        ],
        "no tool calls in this run",
    )
