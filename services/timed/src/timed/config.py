"""timed's settings: flag > SWITCHBOARD_* env var > default, read once into a frozen dataclass."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from daemonkit import flags, settings
from daemonkit.flags import add_common_args, db_path_from

from timed.firing import DEFAULT_BATCH


@dataclass(frozen=True, slots=True)
class Config:
    """Everything timed reads at start."""

    db_path: str
    batch: int = DEFAULT_BATCH  # due tasks handled per transaction
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_listen: tuple[str, int] | None = None  # HOST, PORT of /metrics; None = off
    metrics_token: str | None = None  # Bearer token a non-loopback scrape must carry


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="timed",
        description="Switchboard scheduler: posts cron, interval and one-shot task prompts into "
        "their chats, each slot exactly once (see docs/timed.md).",
    )
    add_common_args(parser)
    settings.add_setting(
        parser,
        "--batch-size",
        env="SWITCHBOARD_TIMED_BATCH",
        parse=settings.integer(1, 100_000),
        default=DEFAULT_BATCH,
        help=f"due tasks handled per transaction; default {DEFAULT_BATCH}",
    )
    flags.add_metrics_listen(parser, "SWITCHBOARD_TIMED_METRICS_LISTEN")
    return parser


def from_args(args: argparse.Namespace) -> Config:
    """The Config of settings already resolved by `daemonkit.settings.parse_settings`."""
    return Config(
        db_path=db_path_from(args),
        batch=args.batch_size,
        log_level=args.log_level,
        log_format=args.log_format,
        metrics_listen=args.metrics_listen,
        metrics_token=flags.metrics_token(),
    )


def load(argv: Sequence[str] | None = None) -> Config:
    """timed's config from argv and the environment; a bad value exits 2 with one line."""
    return from_args(settings.parse_settings(build_parser(), argv))
