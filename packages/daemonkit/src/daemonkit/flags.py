"""The flags every daemon takes: --db, --log-level, --log-format, each with its variable; and
the metrics settings (`--metrics-listen`, the scrape token), kept here so that reading a
daemon's config does not import the Prometheus client (the CLI reads them too)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any, Final

from store.connection import resolve_db_path
from store.dburl import SqliteTarget, parse_db, redact_url, sqlite_only
from store.errors import UnsupportedDatabase

from daemonkit import settings

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
TOKEN_ENV: Final = "SWITCHBOARD_METRICS_TOKEN"  # noqa: S105 (the variable's name)
METRICS_PATH: Final = "/metrics"


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """--db, --log-level, --log-format, each with its SWITCHBOARD_* variable."""
    settings.add_setting(
        parser,
        "--db",
        env="SWITCHBOARD_DB",
        parse=sqlite_db_setting,
        default=None,
        metavar="PATH",
        help="database file; default ./data/messages.db",
    )
    settings.add_setting(
        parser,
        "--log-level",
        env="SWITCHBOARD_LOG_LEVEL",
        parse=settings.choice(*LOG_LEVELS, fold=True),
        default="INFO",
        help="default INFO",
    )
    settings.add_setting(
        parser,
        "--log-format",
        env="SWITCHBOARD_LOG_FORMAT",
        parse=settings.choice(*LOG_FORMATS),
        default="text",
        help="default text",
    )


def sqlite_db_setting(text: str) -> str | None:
    """The --db value of a daemon that runs on SQLite only so far: a file path (None when
    blank: the default). A PostgreSQL URL or an unsupported scheme is a SettingError whose
    line shows the value with any password hidden."""
    if not settings.optional_text(text) or not text.strip():
        return None
    try:
        target = parse_db(text)
    except UnsupportedDatabase as exc:
        raise settings.SettingError(f"it {exc.why}", shown=exc.shown) from None
    if isinstance(target, SqliteTarget):
        return text
    raise settings.SettingError(f"it {sqlite_only('this daemon')}", shown=redact_url(text))


def db_path_from(args: argparse.Namespace) -> str:
    """The db path a daemon was given (flag > env > default), as text."""
    return str(resolve_db_path(args.db))


def metrics_token(environ: Mapping[str, str] = os.environ) -> str | None:
    """The scrape token (`SWITCHBOARD_METRICS_TOKEN`; empty means none). Read from the
    environment only, never a flag: a flag's value shows in `ps`."""
    return environ.get(TOKEN_ENV) or None


def add_metrics_listen(parser: Any, env: str) -> None:
    """The `--metrics-listen HOST:PORT` setting (off unless set)."""
    settings.add_setting(
        parser,
        "--metrics-listen",
        env=env,
        parse=settings.optional_listen_address,
        default=None,
        metavar="HOST:PORT",
        help=f"serve Prometheus metrics on http://HOST:PORT{METRICS_PATH} (loopback clients, "
        f"or the token in {TOKEN_ENV}); default off",
    )
