"""dashd's settings, read once at start (flag > SWITCHBOARD_* env > default) into a frozen value."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from datetime import timedelta

from dashd.errors import ListenAddressInvalid

DEFAULT_LISTEN = "127.0.0.1:8080"


@dataclass(frozen=True, slots=True)
class Config:
    db_path: str
    host: str = "127.0.0.1"
    port: int = 8080
    secure_cookies: bool = False
    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=14)
    # Two requests refreshing with the same token this close together are a race, not a theft.
    reuse_grace: timedelta = timedelta(seconds=10)
    stale_after_s: float = 15.0
    live_poll_s: float = 1.0


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:8080`) -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ListenAddressInvalid(f"listen: {value!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return host.strip("[]"), int(port)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        default=os.environ.get("SWITCHBOARD_DASHD_LISTEN", DEFAULT_LISTEN),
        help=f"HOST:PORT to serve on (env SWITCHBOARD_DASHD_LISTEN; default {DEFAULT_LISTEN})",
    )
    parser.add_argument(
        "--secure-cookies",
        action="store_true",
        default=_env_flag("SWITCHBOARD_DASHD_SECURE_COOKIES"),
        help="mark cookies Secure (needed behind an HTTPS proxy; env "
        "SWITCHBOARD_DASHD_SECURE_COOKIES; default off, on automatically for https requests)",
    )
    parser.add_argument(
        "--refresh-reuse-grace",
        type=float,
        default=float(os.environ.get("SWITCHBOARD_DASHD_REUSE_GRACE_S", "10")),
        metavar="SECONDS",
        help="a refresh token presented again within this many seconds of its rotation is a "
        "race between tabs, not a theft (env SWITCHBOARD_DASHD_REUSE_GRACE_S; default 10)",
    )


def config_from(args: argparse.Namespace, db_path: str) -> Config:
    host, port = parse_listen(args.listen)
    return Config(
        db_path=db_path,
        host=host,
        port=port,
        secure_cookies=args.secure_cookies,
        reuse_grace=timedelta(seconds=args.refresh_reuse_grace),
    )
