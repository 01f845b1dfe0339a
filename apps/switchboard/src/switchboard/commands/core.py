"""`init`, `status`, `doctor`, `send` and `backup`: the installation as a whole."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import store
import typer
from gated.egress.counts import egress_counts

from switchboard import adapter_checks, schemas
from switchboard.options import DbOption, JsonOption, opened, print_json, print_table

STALE_HEARTBEAT_S = 15.0


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("status")(status)
    app.command("doctor")(doctor)
    app.command("send")(send)
    app.command("backup")(backup)


def init(db: DbOption = None) -> None:
    """Create the database (or bring an existing one up to date) and every service schema."""
    path = store.resolve_db_path(db)
    with opened(db) as conn:
        versions = schemas.versions(conn)
    typer.echo(f"database ready: {path}")
    for service, version in versions.items():
        typer.echo(f"  {service}: schema version {version}")


def heartbeat_age(d: store.Daemon) -> float | None:
    if not d.heartbeat_at:
        return None
    return (store.utcnow() - store.parse_iso(d.heartbeat_at)).total_seconds()


def daemon_state(d: store.Daemon) -> str:
    age = heartbeat_age(d)
    if d.stopped_at:
        return "stopped"
    if age is None or age > STALE_HEARTBEAT_S:
        return "stale"
    return "up"


def gated_sandbox(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The `sandbox` entry of gated's heartbeat info (None: gated has not run here)."""
    for d in store.list_daemons(conn):
        if d.name == "gated" and isinstance(d.info, dict):
            info = d.info.get("sandbox")
            return info if isinstance(info, dict) and info else None
    return None


def sandbox_line(info: dict[str, Any] | None) -> str:
    """One line saying whether agents are confined."""
    if info is None:
        return "sandbox: unknown (gated has not reported yet)"
    if info.get("confined"):
        return f"sandbox: bubblewrap ({info.get('bwrap_version') or 'bwrap'}), agents confined"
    if info.get("unconfined"):
        return f"sandbox: UNCONFINED, agents run with gated's rights ({info['unconfined_reason']})"
    return f"sandbox: required but unusable, agent runs fail ({info['unconfined_reason']})"


def network_line(info: dict[str, Any] | None) -> str | None:
    """One line naming the folders whose agents have the host's network (None: no folder)."""
    folders = (info or {}).get("network_full") or []
    if not folders:
        return None
    return (
        f"network: FULL host network for {', '.join(folders)} (network=full: no egress proxy, "
        "no allowlist)"
    )


def status_data(conn: sqlite3.Connection) -> dict[str, Any]:
    daemons = [
        {
            "name": d.name,
            "state": daemon_state(d),
            "pid": d.pid,
            "version": d.version,
            "heartbeat_age_s": None
            if heartbeat_age(d) is None
            else round(heartbeat_age(d) or 0, 1),
            "info": d.info,
        }
        for d in store.list_daemons(conn)
    ]
    return {
        "daemons": daemons,
        "outbox": store.outbox_counts(conn),
        "dead_letters": [
            {"seq": i.seq, "chat_jid": i.chat_jid, "error": i.last_error}
            for i in store.dead_letters(conn, limit=10)
        ],
        "errored_chats": [c.jid for c in store.errored_chats(conn)],
        "groups": len(store.registered_groups(conn)),
        "messages": store.latest_seq(conn),
        "sandbox": gated_sandbox(conn),
        "egress": [asdict(c) for c in egress_counts(conn)],
    }


def status(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show daemon heartbeats, confinement, outbox backlog, dead letters, errored chats and
    the egress proxy's counts."""
    with opened(db) as conn:
        data = status_data(conn)
    if as_json:
        print_json(data)
        return
    typer.echo(
        f"database: {store.resolve_db_path(db)}  ({data['messages']} messages, "
        f"{data['groups']} registered chats)"
    )
    print_table(
        ["daemon", "state", "pid", "version", "heartbeat"],
        [
            [
                d["name"],
                d["state"],
                d["pid"],
                d["version"],
                "never" if d["heartbeat_age_s"] is None else f"{d['heartbeat_age_s']}s ago",
            ]
            for d in data["daemons"]
        ],
        "no daemon has run on this database yet (start one: uv run switchboard up)",
    )
    typer.echo(sandbox_line(data["sandbox"]))
    if line := network_line(data["sandbox"]):
        typer.echo(line)
    egress: dict[str, int] = {}
    for count in data["egress"]:
        egress[count["verdict"]] = egress.get(count["verdict"], 0) + count["n"]
    if egress:
        typer.echo(
            f"egress: {egress.get('allowed', 0)} allowed, {egress.get('denied', 0)} denied "
            "(network=proxy attempts; --json lists them by folder and host)"
        )
    o = data["outbox"]
    typer.echo(
        f"outbox: {o['pending']} pending, {o['sending']} sending, {o['failed']} retrying, "
        f"{o['sent']} sent, {o['dead']} dead"
    )
    for d in data["dead_letters"]:
        typer.echo(f"  dead: seq {d['seq']} to {d['chat_jid']}: {d['error']}")
    if data["errored_chats"]:
        typer.echo("errored chats: " + ", ".join(data["errored_chats"]))


def doctor(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Check pragmas, schema versions, integrity, heartbeats, the sandbox, the email login and
    each chat adapter registered or with a token here (gated reachable, its /health, its token
    at the platform, with the adapter's own variables); exit 1 when something is wrong."""
    problems: list[str] = []
    warnings: list[str] = []  # said, but not a failure: a setting someone chose
    checks: list[tuple[str, str]] = []
    path = store.resolve_db_path(db)
    if not path.exists():
        typer.echo(f"error: no database at {path} (create it: switchboard init)", err=True)
        raise typer.Exit(1)
    with opened(db, services=False) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        checks.append(("journal_mode", mode))
        if mode != "wal":
            problems.append(f"journal_mode is {mode}, expected wal")
        fk = conn.execute("PRAGMA foreign_keys").fetchone()[0]
        checks.append(("foreign_keys", str(fk)))
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        checks.append(("integrity_check", integrity))
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
        for service, known in schemas.expected_versions().items():
            have = store.service_version(conn, service)
            checks.append((f"schema {service}", f"{have} (code knows {known})"))
            if have < known:
                problems.append(
                    f"{service} schema at {have}, code at {known}: run switchboard init"
                )
            elif have > known:
                problems.append(f"{service} schema at {have} is newer than this code ({known})")
        for d in store.list_daemons(conn):
            state = daemon_state(d)
            checks.append((f"daemon {d.name}", state))
            if state == "stale":
                problems.append(f"daemon {d.name} heartbeat is stale (pid {d.pid})")
        sandbox = gated_sandbox(conn)
        checks.append(("sandbox", sandbox_line(sandbox).removeprefix("sandbox: ")))
        if sandbox is not None and not sandbox.get("confined"):
            problems.append(sandbox_line(sandbox))
        for limit, how in ((sandbox or {}).get("limits") or {}).items():
            checks.append((f"limit {limit}", str(how)))
        if line := network_line(sandbox):
            checks.append(("network", line.removeprefix("network: ")))
            warnings.append(line)
        configured = adapter_checks.configured_adapters(conn, path, os.environ)
    # Network calls only once the database is closed again.
    for finding in adapter_checks.check_adapters(configured, os.environ):
        checks.append((finding.check, finding.value))
        if finding.problem:
            problems.append(finding.problem)
        if finding.warning:
            warnings.append(finding.warning)
    from gated.config import load as gated_config
    from gated.email.check import check_login

    gated_cfg = gated_config([])
    if gated_cfg.email is None:
        checks.append(("email channel", "not configured"))
    else:
        login_problems = check_login(gated_cfg)
        checks.append(("email login", "failed" if login_problems else "ok (imap, smtp)"))
        problems += login_problems
    if as_json:
        print_json(
            {"checks": dict(checks), "problems": problems, "warnings": warnings, "ok": not problems}
        )
    else:
        for name, value in checks:
            typer.echo(f"{name:28} {value}")
        for p in problems:
            typer.echo(f"PROBLEM: {p}")
        for w in warnings:
            typer.echo(f"WARNING: {w}")
        typer.echo(
            "doctor: all checks passed" if not problems else f"doctor: {len(problems)} problem(s)"
        )
    if problems:
        raise typer.Exit(1)


def send(
    chat_jid: Annotated[str, typer.Argument(help="Chat to send to, e.g. web:demo.")],
    text: Annotated[str, typer.Argument(help="Message text.")],
    db: DbOption = None,
) -> None:
    """Queue an outbound message to a chat (delivered by gated through the outbox)."""
    store.validate.jid(chat_jid)
    store.validate.content(text, "text")
    with opened(db) as conn:
        group = store.get_group(conn, chat_jid)
        seq = store.store_outbound(
            conn,
            chat_jid,
            text,
            source="cli",
            sender="operator",
            group_folder=group.folder if group else None,
        )
    typer.echo(f"queued seq {seq} to {chat_jid}")


def backup(
    path: Annotated[Path, typer.Argument(help="Where to write the copy.")],
    db: DbOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Copy the database with SQLite's online backup API (consistent while daemons write)."""
    src_path = store.resolve_db_path(db)
    if not src_path.exists():
        raise store.InvalidInput("db", f"no database at {src_path}")
    if path.resolve() == src_path.resolve():
        raise store.InvalidInput("path", "backup target is the database itself")
    if path.exists() and not force:
        raise store.InvalidInput("path", f"{path} exists (use --force to overwrite)")
    if not path.parent.is_dir():
        raise store.InvalidInput("path", f"directory {path.parent} does not exist")
    tmp = path.with_name(path.name + ".partial")
    src = store.connect(src_path)
    try:
        dst = sqlite3.connect(tmp)
        try:
            # One step (pages=-1): the copy is one read snapshot. Copying in slices would
            # restart whenever another process commits, and never finish under a busy writer.
            src.backup(dst, pages=-1)
            ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
            count = dst.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        finally:
            dst.close()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    if ok != "ok":
        tmp.unlink(missing_ok=True)
        typer.echo(f"error: backup failed integrity_check: {ok}", err=True)
        raise typer.Exit(1)
    tmp.replace(path)
    typer.echo(f"backup written: {path} ({count} messages, {path.stat().st_size} bytes)")
