"""`switchboard up`: the embedded default — prepare the database (schemas, a demo group, an
operator chat, a dashboard admin) and run the daemons under the supervisor until Ctrl-C."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sqlite3
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Annotated, Final

import store
import typer
from daemonkit import settings
from daemonkit.flags import LOG_LEVELS
from store.paths import group_path

from switchboard.options import DbOption
from switchboard.schemas import open_all
from switchboard.supervisor import (
    DAEMONS,
    ChildSpec,
    LogPrinter,
    Supervisor,
    daemon_argv,
    stale_daemons,
    use_colour,
)

DEMO_JID: Final = "web:demo"
DEMO_FOLDER: Final = "demo"
OPERATOR_JID: Final = "cli:operator"
OPERATOR_FOLDER: Final = "operator"
ADMIN_USER: Final = "admin"
DEFAULT_GATED_LISTEN: Final = "127.0.0.1:8700"
DEFAULT_DASHD_LISTEN: Final = "127.0.0.1:8080"
LOG_LEVEL: Final = settings.choice(*LOG_LEVELS, fold=True)


@dataclass(frozen=True, slots=True)
class Prepared:
    """What `prepare` found or created, for the banner."""

    db: Path
    created_groups: tuple[str, ...]
    admin_password: str | None  # set only when the admin user was created just now
    admin_note: str


def register(app: typer.Typer) -> None:
    app.command("up")(up)


def prepare(db: Path) -> Prepared:
    """Create the db and every schema; seed the demo group, operator chat and admin user."""
    conn = open_all(db)
    try:
        created: list[str] = []
        if not store.registered_groups(conn):
            store.register_group(conn, DEMO_JID, DEMO_FOLDER, name="Demo (echo agent)")
            store.register_group(
                conn, OPERATOR_JID, OPERATOR_FOLDER, name="Operator", is_operator=True
            )
            created += [DEMO_JID, OPERATOR_JID]
        for g in store.registered_groups(conn):
            group_path(conn, g.folder, create=True)
        password, note = ensure_admin(conn)
    finally:
        conn.close()
    return Prepared(db, tuple(created), password, note)


def ensure_admin(conn: sqlite3.Connection) -> tuple[str | None, str]:
    """Create `admin` with a random password when there is no dashboard user at all."""
    from dashd import users

    existing = users.list_users(conn)
    if existing:
        names = ", ".join(u.username for u in existing[:3]) + (", …" if len(existing) > 3 else "")
        return None, f"existing users ({names}); new password: switchboard user passwd NAME"
    password = secrets.token_urlsafe(12)
    users.add_user(conn, ADMIN_USER, password)
    return password, f"{ADMIN_USER} / {password}"


def parse_only(only: str) -> list[str]:
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in DAEMONS]
    if unknown or not names:
        raise store.InvalidInput(
            "only", f"{only!r}: expected a comma-separated subset of {','.join(DAEMONS)}"
        )
    return [n for n in DAEMONS if n in names]


def check_listen(value: str, field: str) -> str:
    """HOST:PORT that is well-formed and free right now (a clear error beats a crash loop)."""
    try:
        host, port = settings.listen_address(value)
    except settings.SettingError as exc:
        raise store.InvalidInput(field, f"{value!r} is not allowed: {exc}") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except OSError as exc:
        raise store.InvalidInput(
            field, f"cannot listen on {value}: {exc.strerror or exc} (choose another port)"
        ) from exc
    return value


def accepting(listen: str) -> bool:
    """True when something accepts TCP connections on HOST:PORT."""
    host, _, port = listen.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def banner(prepared: Prepared, names: list[str], gated_listen: str, dashd_listen: str) -> list[str]:
    lines = [f"Switchboard is up: {', '.join(names)} on {prepared.db}"]
    if "dashd" in names:
        lines.append(f"  dashboard:   http://{dashd_listen}/")
        lines.append(f"  login:       {prepared.admin_note}")
        if prepared.admin_password:
            lines.append("               (shown once; change it: switchboard user passwd admin)")
    if "gated" in names:
        lines.append(f"  channel API: http://{gated_listen}/v1/health")
    db_flag = (
        "" if prepared.db == store.resolve_db_path(None).absolute() else f" --db {prepared.db}"
    )
    if "dashd" in names:
        lines.append(f"  web chat:    http://{dashd_listen}/web/{DEMO_FOLDER}")
    lines.append(f"  chat:        uv run switchboard chat {DEMO_FOLDER}{db_flag}")
    lines.append("  stop:        Ctrl-C")
    return lines


def up(
    db: DbOption = None,
    only: Annotated[
        str, typer.Option(help="Comma-separated daemons to run (default: all four).")
    ] = ",".join(DAEMONS),
    gated_listen: Annotated[
        str,
        typer.Option(
            envvar="SWITCHBOARD_LISTEN", show_envvar=True, help="HOST:PORT of gated's channel API."
        ),
    ] = DEFAULT_GATED_LISTEN,
    dashd_listen: Annotated[
        str,
        typer.Option(
            envvar="SWITCHBOARD_DASHD_LISTEN", show_envvar=True, help="HOST:PORT of the dashboard."
        ),
    ] = DEFAULT_DASHD_LISTEN,
    log_level: Annotated[
        str | None, typer.Option(help="Daemons' log level (default: their own, INFO).")
    ] = None,
) -> None:
    """Run all four daemons on one database with prefixed logs; Ctrl-C stops them."""
    names = parse_only(only)
    if log_level is not None:
        try:
            log_level = LOG_LEVEL(log_level)
        except settings.SettingError as exc:
            raise store.InvalidInput("log_level", f"{log_level!r} is not allowed: {exc}") from None
    if "gated" in names:
        check_listen(gated_listen, "gated_listen")
    if "dashd" in names:
        check_listen(dashd_listen, "dashd_listen")
    path = store.resolve_db_path(db).absolute()
    prepared = prepare(path)
    printer = LogPrinter(sys.stdout, use_colour(sys.stdout, os.environ))
    env = {
        "SWITCHBOARD_DB": str(path),
        "SWITCHBOARD_LISTEN": gated_listen,
        "SWITCHBOARD_DASHD_LISTEN": dashd_listen,
        "PYTHONUNBUFFERED": "1",
    }
    specs = [ChildSpec(n, daemon_argv(n, path, log_level), env) for n in names]
    supervisor = Supervisor(specs, printer)
    for jid in prepared.created_groups:
        supervisor.say(f"created group {jid}")

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, request_stop)

    conn = store.connect(path)

    listens = {"gated": gated_listen, "dashd": dashd_listen}

    def waiting(pids: dict[str, int]) -> list[str]:
        try:
            stale = stale_daemons(conn, pids, names)
        except sqlite3.Error:
            return names  # busy or mid-migration: ask again on the next round
        # The URLs in the banner must answer when it is printed.
        return stale + [
            n for n in listens if n in names and n not in stale and not accepting(listens[n])
        ]

    def ready() -> None:
        for line in banner(prepared, names, gated_listen, dashd_listen):
            supervisor.say(line)

    try:
        code = supervisor.run(stop, waiting, ready)
    finally:
        conn.close()
    raise typer.Exit(code)
