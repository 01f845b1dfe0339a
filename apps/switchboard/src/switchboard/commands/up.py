"""`switchboard up`: the embedded default — prepare the database (schemas, a demo group, an
operator chat, a dashboard admin) and run the daemons, and the chat adapters named by `--with`,
under the supervisor until Ctrl-C."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sqlite3
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Annotated, Final

import store
import typer
from daemonkit import settings
from daemonkit.flags import LOG_LEVELS
from gated.adapters import Channel, list_channels
from store.paths import group_path

from switchboard import adapters
from switchboard.adapters import AdapterInfo
from switchboard.cli_actor import cli_actor
from switchboard.options import DbOption
from switchboard.schemas import open_all
from switchboard.supervisor import (
    DAEMONS,
    ChildSpec,
    LogPrinter,
    Supervisor,
    console_argv,
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
# An adapter listens on any free port unless told otherwise: it registers the URL it got.
ADAPTER_LISTEN: Final = "127.0.0.1:0"
LABEL_WIDTH: Final = 13
# timed and onbod serve /metrics only when told where: `up` picks a free loopback port for
# each unless its variable names one.
METRICS_LISTEN_ENV: Final = {
    "timed": "SWITCHBOARD_TIMED_METRICS_LISTEN",
    "onbod": "SWITCHBOARD_ONBOD_METRICS_LISTEN",
}
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
            actor = cli_actor()
            store.register_group(conn, DEMO_JID, DEMO_FOLDER, name="Demo (echo agent)", actor=actor)
            store.register_group(
                conn, OPERATOR_JID, OPERATOR_FOLDER, name="Operator", is_operator=True, actor=actor
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
    users.add_user(conn, ADMIN_USER, password, actor=cli_actor())
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


def metrics_listens(names: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """HOST:PORT of timed's and onbod's metrics listeners (those in `names`): the address in
    the daemon's variable when set (checked free), else (also for port 0) a free port on
    127.0.0.1, so the banner can print the URL."""
    listens = {}
    for name, env in METRICS_LISTEN_ENV.items():
        if name not in names:
            continue
        given = environ.get(env)
        if given and not given.endswith(":0"):
            listens[name] = check_listen(given, env)
        else:
            listens[name] = f"127.0.0.1:{free_port()}"
    return listens


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metrics_urls(names: Sequence[str], listens: Mapping[str, str]) -> dict[str, str]:
    """Each running daemon's /metrics URL, in the daemons' order."""
    return {n: f"http://{listens[n]}/metrics" for n in DAEMONS if n in names and n in listens}


def accepting(listen: str) -> bool:
    """True when something accepts TCP connections on HOST:PORT."""
    host, _, port = listen.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def adapter_spec(
    info: AdapterInfo,
    tokens: Mapping[str, adapters.FoundToken],
    *,
    db: Path,
    gated_url: str,
    channel_secret: str,
    environ: Mapping[str, str],
    log_level: str | None,
) -> ChildSpec:
    """How `up` starts one adapter: secret and tokens in its environment only (never argv),
    its state beside the database, its gated the one `up` runs. A listen address or state
    directory set in the adapter's own SWITCHBOARD_<NAME>_* variable is kept; any other
    variable of the adapter's (an API URL, the Matrix homeserver) reaches it as it is."""
    listen_env, state_env = info.setting_env("LISTEN"), info.setting_env("STATE_DIR")
    listen = environ.get(listen_env) or ADAPTER_LISTEN
    if not listen.endswith(":0"):
        check_listen(listen, listen_env)
    env = {
        adapters.CHANNEL_SECRET_ENV: channel_secret,
        "SWITCHBOARD_GATED_URL": gated_url,
        listen_env: listen,
        state_env: environ.get(state_env) or str(db.parent / info.name),
        "PYTHONUNBUFFERED": "1",
        **{t.env: t.value for t in tokens.values()},
    }
    argv = console_argv(info.script, info.entry)
    if log_level:
        argv += ["--log-level", log_level]
    return ChildSpec(info.name, tuple(argv), env, adapters.TOKEN_VARIABLES - set(info.tokens))


def adapter_specs(
    chosen: list[AdapterInfo],
    *,
    db: Path,
    names: list[str],
    gated_listen: str,
    environ: Mapping[str, str],
    log_level: str | None,
) -> tuple[str, list[ChildSpec]]:
    """The channel secret of this run and the adapters' specs; InvalidInput (one line, before
    anything starts) when a token is missing."""
    conn = open_all(db) if db.exists() else None
    try:
        read_secret = adapters.secret_reader(conn, adapters.key_file(db, environ))
        found = [(info, adapters.find_tokens(info, environ, read_secret)) for info in chosen]
    finally:
        if conn is not None:
            conn.close()
    for info, tokens in found:
        if reason := adapters.missing_tokens(info, tokens):
            raise store.InvalidInput(info.name, reason)
        if info.api_url(environ) is None:  # Matrix: no homeserver is a default
            raise store.InvalidInput(info.name, f"{info.api_env} is not set (the platform's URL)")
    secret = environ.get(adapters.CHANNEL_SECRET_ENV)
    if "gated" in names:
        gated_url = adapters.gated_url_for(gated_listen)
    else:
        gated_url = environ.get("SWITCHBOARD_GATED_URL") or adapters.gated_url_for(gated_listen)
        if not secret:
            raise store.InvalidInput(
                "with",
                f"gated is not in --only: set {adapters.CHANNEL_SECRET_ENV} to the secret "
                "the running gated has",
            )
    # Without one given, a secret for this run only: gated and the adapters get it, nobody sees it.
    secret = secret or secrets.token_urlsafe(32)
    specs = [
        adapter_spec(
            info,
            tokens,
            db=db,
            gated_url=gated_url,
            channel_secret=secret,
            environ=environ,
            log_level=log_level,
        )
        for info, tokens in found
    ]
    return secret, specs


def registered_since(conn: sqlite3.Connection, since: str) -> dict[str, Channel]:
    """The channels (re)registered with gated at or after `since` (an ISO time), by name."""
    return {c.name: c for c in list_channels(conn) if c.registered_at >= since}


def adapter_lines(chosen: list[AdapterInfo], joined: Mapping[str, Channel]) -> list[str]:
    """The banner's lines for the adapters: which channel each registered as, when, where."""
    lines = []
    for info in chosen:
        c = joined.get(info.channel)
        if c is None:
            continue
        at = c.registered_at.partition("T")[2][:8]
        lines.append(
            f"  {info.name + ':':<{LABEL_WIDTH}}registered with gated as channel {c.name} "
            f"at {at} UTC ({c.url})"
        )
    if chosen:
        lines.append(
            f"  {'new chats:':<{LABEL_WIDTH}}switchboard onboarding list, or answer one: "
            f"switchboard group add {chosen[0].jid_example} {DEMO_FOLDER}"
        )
    return lines


def banner(
    prepared: Prepared,
    names: list[str],
    gated_listen: str,
    dashd_listen: str,
    adapter_lines: Sequence[str] = (),
    adapter_names: Sequence[str] = (),
    metrics: Mapping[str, str] | None = None,
) -> list[str]:
    lines = [f"Switchboard is up: {', '.join([*names, *adapter_names])} on {prepared.db}"]
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
    for i, (name, url) in enumerate((metrics or {}).items()):
        label = "metrics:" if i == 0 else ""
        lines.append(f"  {label:<{LABEL_WIDTH}}{url} ({name})")
    lines.extend(adapter_lines)
    lines.append("  stop:        Ctrl-C")
    return lines


def up(
    db: DbOption = None,
    only: Annotated[
        str, typer.Option(help="Comma-separated daemons to run (default: all four).")
    ] = ",".join(DAEMONS),
    with_: Annotated[
        str,
        typer.Option(
            "--with",
            metavar="ADAPTERS",
            help=f"Comma-separated chat adapters to run too ({','.join(adapters.ADAPTERS)}). "
            "Each token from its variable (TELEGRAM_BOT_TOKEN, SLACK_BOT_TOKEN and "
            "SLACK_APP_TOKEN, DISCORD_BOT_TOKEN, MATRIX_ACCESS_TOKEN), else from the secret "
            "named like it in lower case with '-' (switchboard secret set telegram-bot-token "
            "--expose adapter); the channel secret from SWITCHBOARD_CHANNEL_SECRET, else one "
            "made for this run; other settings from the adapter's own variables "
            "(docs/channels.md).",
        ),
    ] = "",
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
        str | None, typer.Option(help="Children's log level (default: their own, INFO).")
    ] = None,
) -> None:
    """Run all four daemons (and the chat adapters of --with) on one database with prefixed
    logs, and timed's and onbod's metrics listeners on free loopback ports (unless
    SWITCHBOARD_TIMED_METRICS_LISTEN / SWITCHBOARD_ONBOD_METRICS_LISTEN name addresses); the
    banner prints every URL, each daemon's /metrics included. Ctrl-C stops them."""
    names = parse_only(only)
    chosen = adapters.parse_with(with_) if with_ else []
    if log_level is not None:
        try:
            log_level = LOG_LEVEL(log_level)
        except settings.SettingError as exc:
            raise store.InvalidInput("log_level", f"{log_level!r} is not allowed: {exc}") from None
    if "gated" in names:
        check_listen(gated_listen, "gated_listen")
    if "dashd" in names:
        check_listen(dashd_listen, "dashd_listen")
    listens = {"gated": gated_listen, "dashd": dashd_listen, **metrics_listens(names, os.environ)}
    path = store.resolve_db_path(db).absolute()
    channel_secret, adapter_children = (
        adapter_specs(
            chosen,
            db=path,
            names=names,
            gated_listen=gated_listen,
            environ=os.environ,
            log_level=log_level,
        )
        if chosen
        else (None, [])
    )
    prepared = prepare(path)
    printer = LogPrinter(
        sys.stdout, use_colour(sys.stdout, os.environ), [*names, *(a.name for a in chosen)]
    )
    env = {
        "SWITCHBOARD_DB": str(path),
        "SWITCHBOARD_LISTEN": gated_listen,
        "SWITCHBOARD_DASHD_LISTEN": dashd_listen,
        **{env: listens[n] for n, env in METRICS_LISTEN_ENV.items() if n in listens},
        "PYTHONUNBUFFERED": "1",
    }
    # The daemons never get a platform token; only gated needs the channel secret.
    gated_env = {**env, adapters.CHANNEL_SECRET_ENV: channel_secret} if channel_secret else env
    specs = [
        ChildSpec(
            n,
            daemon_argv(n, path, log_level),
            gated_env if n == "gated" else env,
            adapters.TOKEN_VARIABLES
            | (frozenset() if n == "gated" else {adapters.CHANNEL_SECRET_ENV}),
        )
        for n in names
    ]
    supervisor = Supervisor([*specs, *adapter_children], printer)
    for jid in prepared.created_groups:
        supervisor.say(f"created group {jid}")

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, request_stop)

    conn = store.connect(path)

    # An adapter is ready once it registered with gated after this moment.
    since = store.now_iso()

    def waiting(pids: dict[str, int]) -> list[str]:
        try:
            stale = stale_daemons(conn, pids, names)
            joined = registered_since(conn, since) if chosen else {}
        except sqlite3.Error:  # busy or mid-migration: ask again on the next round
            return [*names, *(a.name for a in chosen)]
        # The URLs in the banner must answer when it is printed.
        return (
            [f"{n} (heartbeat)" for n in stale]
            + [
                f"{n} (its port)"
                for n in listens
                if n in names and n not in stale and not accepting(listens[n])
            ]
            + [f"{a.name} (registration with gated)" for a in chosen if a.channel not in joined]
        )

    def ready() -> None:
        extra = adapter_lines(chosen, registered_since(conn, since)) if chosen else []
        for line in banner(
            prepared,
            names,
            gated_listen,
            dashd_listen,
            extra,
            [a.name for a in chosen],
            metrics_urls(names, listens),
        ):
            supervisor.say(line)

    try:
        code = supervisor.run(stop, waiting, ready)
    finally:
        conn.close()
    raise typer.Exit(code)
