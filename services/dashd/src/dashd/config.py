"""dashd's settings, read once at start (flag > SWITCHBOARD_* env > default) into a frozen value."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from daemonkit import alerts, flags, settings
from daemonkit.flags import add_common_args, db_path_from

DEFAULT_LISTEN = "127.0.0.1:8080"


@dataclass(frozen=True, slots=True)
class Config:
    """Everything dashd reads at start, passed to the app and its pages."""

    db_path: str
    host: str = "127.0.0.1"
    port: int = 8080
    secure_cookies: bool = False
    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=14)
    # Two requests refreshing with the same token this close together are a race, not a theft.
    reuse_grace: timedelta = timedelta(seconds=10)
    stale_after_s: float = 15.0
    alert_stale_s: float = alerts.DEFAULT_STALE_S  # gated's heartbeat older: operators told
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_token: str | None = None  # Bearer token a non-loopback /metrics scrape must carry


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dashd", description="Switchboard's operator dashboard (web UI on --listen)."
    )
    add_common_args(parser)
    add_args(parser)
    alerts.add_alert_args(parser)
    return parser


def add_args(parser: argparse.ArgumentParser) -> None:
    add = functools.partial(settings.add_setting, parser)
    add(
        "--listen",
        env="SWITCHBOARD_DASHD_LISTEN",
        parse=settings.listen_address,
        default=settings.listen_address(DEFAULT_LISTEN),
        metavar="HOST:PORT",
        help=f"address to serve on; default {DEFAULT_LISTEN}",
    )
    add(
        "--secure-cookies",
        env="SWITCHBOARD_DASHD_SECURE_COOKIES",
        parse=settings.boolean,
        default=False,
        switch=True,
        help="mark cookies Secure (needed behind an HTTPS proxy; default off, on automatically "
        "for https requests)",
    )
    add(
        "--refresh-reuse-grace",
        env="SWITCHBOARD_DASHD_REUSE_GRACE_S",
        parse=settings.number(0, 3600),
        default=10.0,
        metavar="SECONDS",
        help="a refresh token presented again within this many seconds of its rotation is a "
        "race between tabs, not a theft; default 10",
    )


def from_args(args: argparse.Namespace) -> Config:
    """The Config of settings already resolved by `daemonkit.settings.parse_settings`."""
    host, port = args.listen
    return Config(
        db_path=db_path_from(args),
        host=host,
        port=port,
        secure_cookies=args.secure_cookies,
        reuse_grace=timedelta(seconds=args.refresh_reuse_grace),
        alert_stale_s=args.alert_stale_s,
        log_level=args.log_level,
        log_format=args.log_format,
        metrics_token=flags.metrics_token(),
    )


def load(argv: Sequence[str] | None = None) -> Config:
    """dashd's config from argv and the environment; a bad value exits 2 with one line."""
    return from_args(settings.parse_settings(build_parser(), argv))
