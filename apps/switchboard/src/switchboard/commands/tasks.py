"""`task add|list|pause|resume|rm|run-now|runs`: scheduled prompts, through timed's public API."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

import store
import typer
from timed import api
from timed.slots import next_slots, parse_every, zone

from switchboard.cli_actor import cli_actor
from switchboard.options import DbOption, JsonOption, opened, print_json, print_table

task_app = typer.Typer(help="Scheduled prompts (cron, interval, one-shot).", no_args_is_help=True)

IdArg = Annotated[int, typer.Argument(help="Task id (see task list).")]
# Runs `task add` shows for a new cron task, so its meaning is visible before it fires.
PREVIEW_RUNS = 3


def register(app: typer.Typer) -> None:
    app.add_typer(task_app, name="task")


def parse_at(text: str) -> datetime:
    """An ISO-8601 time; without an offset it is read in the task's --tz."""
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise store.InvalidInput(
            "at", f"{text!r} is not an ISO time like 2026-12-24T18:00 or ...T18:00:00Z"
        ) from exc


def local_and_utc(stamp: str | None, tz: str) -> tuple[str, str]:
    """A stored UTC time shown in the task's zone and in UTC."""
    if not stamp:
        return "", ""
    when = store.parse_iso(stamp)
    return (
        when.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M:%S %Z"),
        when.strftime("%Y-%m-%d %H:%M:%SZ"),
    )


def schedule_text(task: api.Task) -> str:
    if task.kind == "cron":
        return f"cron {task.cron}" + (f" ({task.tz})" if task.tz != "UTC" else "")
    if task.kind == "interval":
        return f"every {task.interval_s}s"
    return f"at {task.run_at}"


def task_json(task: api.Task) -> dict[str, Any]:
    data = asdict(task)
    data["next_run_local"] = local_and_utc(task.next_run, task.tz)[0] or None
    return data


def upcoming_runs(task: api.Task) -> list[str]:
    """The next PREVIEW_RUNS slots of a cron task (its `next_run` first), as UTC text."""
    if task.kind != "cron" or not task.next_run:
        return []
    first = store.parse_iso(task.next_run)
    return [store.iso(s) for s in [first, *next_slots(task, first, PREVIEW_RUNS - 1)]]


@task_app.command("add")
def task_add(
    chat: Annotated[str, typer.Option("--chat", help="Registered chat jid, e.g. web:demo.")],
    prompt: Annotated[str, typer.Option("--prompt", help="Text posted to the chat each time.")],
    cron: Annotated[
        str | None, typer.Option("--cron", help="Cron expression (6th field = seconds).")
    ] = None,
    tz: Annotated[str, typer.Option("--tz", help="IANA timezone for --cron / --at.")] = "UTC",
    every: Annotated[
        str | None, typer.Option("--every", help="Interval like 15m, 90s, 2h (min 10s).")
    ] = None,
    at: Annotated[str | None, typer.Option("--at", help="One-shot ISO time.")] = None,
    misfire: Annotated[
        str, typer.Option("--misfire", help="After downtime: run_once | skip.")
    ] = "run_once",
    grace: Annotated[
        int, typer.Option("--grace", help="Seconds late that still fire normally.")
    ] = 60,
    isolated: Annotated[
        bool, typer.Option("--isolated", help="Run in its own topic (task:<id>).")
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Schedule a prompt: exactly one of --cron, --every, --at."""
    if sum(x is not None for x in (cron, every, at)) != 1:
        raise store.InvalidInput("schedule", "give exactly one of --cron, --every or --at")
    with opened(db) as conn:
        task = api.add_task(
            conn,
            chat_jid=chat,
            prompt=prompt,
            cron=cron,
            tz=tz,
            every_s=parse_every(every) if every is not None else None,
            at=parse_at(at) if at is not None else None,
            misfire=misfire,  # type: ignore[arg-type]  # validated by add_task
            misfire_grace_s=grace,
            isolated=isolated,
            actor=cli_actor(),
        )
    upcoming = upcoming_runs(task)
    if as_json:
        print_json({**task_json(task), **({"next_runs": upcoming} if upcoming else {})})
        return
    local, utc = local_and_utc(task.next_run, task.tz)
    typer.echo(f"task {task.id} added: {schedule_text(task)}; next run {local} ({utc})")
    if upcoming:
        shown = ", ".join(local_and_utc(s, task.tz)[0] for s in upcoming)
        typer.echo(f"next {len(upcoming)} runs ({task.tz}): {shown}")


@task_app.command("list")
def task_list(
    status: Annotated[
        str | None, typer.Option(help="Only tasks with this status (active, paused, completed).")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List tasks with their next run in the task's timezone and in UTC."""
    if status not in (None, "active", "paused", "completed"):
        raise store.InvalidInput("status", f"{status!r} is not active, paused or completed")
    with opened(db) as conn:
        tasks = api.list_tasks(conn, status=status, limit=10_000)  # type: ignore[arg-type]
    if as_json:
        print_json([task_json(t) for t in tasks])
        return
    rows = []
    for t in tasks:
        local, utc = local_and_utc(t.next_run, t.tz)
        rows.append([t.id, t.chat_jid, schedule_text(t), t.status, local, utc, t.prompt[:40]])
    print_table(
        ["id", "chat", "schedule", "status", "next run (task tz)", "next run (UTC)", "prompt"],
        rows,
        "no tasks (add one: switchboard task add --chat web:demo --every 1h --prompt ...)",
    )


@task_app.command("pause")
def task_pause(task_id: IdArg, db: DbOption = None) -> None:
    """Stop a task from firing until resumed."""
    with opened(db) as conn:
        api.pause(conn, task_id, actor=cli_actor())
    typer.echo(f"task {task_id} paused")


@task_app.command("resume")
def task_resume(task_id: IdArg, db: DbOption = None) -> None:
    """Resume a paused task; its next run is computed from now."""
    with opened(db) as conn:
        task = api.resume(conn, task_id, actor=cli_actor())
    local, utc = local_and_utc(task.next_run, task.tz)
    typer.echo(f"task {task_id} resumed; next run {local} ({utc})")


@task_app.command("rm")
def task_rm(task_id: IdArg, db: DbOption = None) -> None:
    """Remove a task and its run history (posted messages stay)."""
    with opened(db) as conn:
        api.remove(conn, task_id, actor=cli_actor())
    typer.echo(f"task {task_id} removed")


@task_app.command("run-now")
def task_run_now(task_id: IdArg, db: DbOption = None) -> None:
    """Fire an extra run now (does not move the schedule)."""
    with opened(db) as conn:
        run = api.run_now(conn, task_id, actor=cli_actor())
    typer.echo(f"task {task_id} fired now (run {run.id}, message seq {run.message_seq})")


@task_app.command("runs")
def task_runs(
    task_id: IdArg,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """A task's runs, newest first: fired, missed or skipped, and why."""
    with opened(db) as conn:
        if api.get_task(conn, task_id) is None:
            raise store.NotFound(f"no task with id {task_id}")
        got = api.runs(conn, task_id, limit=limit)
    if as_json:
        print_json([asdict(r) for r in got])
        return
    print_table(
        ["run", "slot", "fired_at", "status", "message", "by", "note"],
        [[r.id, r.slot, r.fired_at, r.status, r.message_seq, r.fired_by, r.note] for r in got],
        f"task {task_id} has not run yet",
    )
