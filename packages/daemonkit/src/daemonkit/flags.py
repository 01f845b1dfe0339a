"""The flags every daemon takes: --db, --log-level, --log-format, each with its variable."""

from __future__ import annotations

import argparse

from store.connection import resolve_db_path

from daemonkit import settings

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """--db, --log-level, --log-format, each with its SWITCHBOARD_* variable."""
    settings.add_setting(
        parser,
        "--db",
        env="SWITCHBOARD_DB",
        parse=settings.optional_text,
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


def db_path_from(args: argparse.Namespace) -> str:
    """The db path a daemon was given (flag > env > default), as text."""
    return str(resolve_db_path(args.db))
