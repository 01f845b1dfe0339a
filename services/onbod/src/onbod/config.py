"""onbod's settings: flag > SWITCHBOARD_ONBOARDING_* env var > default, read once at start."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args

from daemonkit import flags, settings
from daemonkit.flags import add_common_args, db_path_from
from store.connection import DEFAULT_DB

Policy = Literal["approval", "open", "closed"]
POLICIES: Final[tuple[str, ...]] = get_args(Policy)
ENV_PREFIX: Final = "SWITCHBOARD_ONBOARDING_"
DESCRIPTION: Final = (
    "onbod: onboarding of unknown chats. Follows new messages by its own cursor and, for chats\n"
    "without a registered group, asks for a world name and queues the request for an operator."
)


@dataclass(frozen=True, slots=True)
class Config:
    """Everything onbod reads at start (the defaults are its flags' defaults)."""

    policy: Policy = "approval"
    prompt_interval_s: float = 60.0  # at most one "ask again" per chat per this
    reminder_interval_s: float = 3600.0  # at most one pending reminder per chat per this
    max_pending_per_hour: int = 20  # new pending requests accepted per hour (all chats)
    max_greetings_per_hour: int = 200  # new chats greeted per hour (all chats)
    db_path: str = str(DEFAULT_DB)
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_listen: tuple[str, int] | None = None  # HOST, PORT of /metrics; None = off
    metrics_token: str | None = None  # Bearer token a non-loopback scrape must carry


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onbod", description=DESCRIPTION)
    add_common_args(parser)
    add_args(parser)
    flags.add_metrics_listen(parser, "SWITCHBOARD_ONBOD_METRICS_LISTEN")
    return parser


def add_args(parser: argparse.ArgumentParser) -> None:
    """The onboarding flags, each read from its SWITCHBOARD_ONBOARDING_* variable when unset."""
    d = Config()
    add = functools.partial(settings.add_setting, parser)
    add(
        "--policy",
        env=ENV_PREFIX + "POLICY",
        parse=settings.choice(*POLICIES),
        default=d.policy,
        help="approval (ask a name, an operator approves), open (register at once) or closed "
        f"(record, never answer); default {d.policy}",
    )
    add(
        "--prompt-interval",
        env=ENV_PREFIX + "PROMPT_INTERVAL",
        parse=settings.number(0),
        default=d.prompt_interval_s,
        metavar="SECONDS",
        help="seconds between two 'ask again' prompts to one chat; "
        f"default {d.prompt_interval_s:g}",
    )
    add(
        "--reminder-interval",
        env=ENV_PREFIX + "REMINDER_INTERVAL",
        parse=settings.number(0),
        default=d.reminder_interval_s,
        metavar="SECONDS",
        help="seconds between two 'still awaiting approval' reminders to one chat; "
        f"default {d.reminder_interval_s:g}",
    )
    add(
        "--max-pending-per-hour",
        env=ENV_PREFIX + "MAX_PENDING_PER_HOUR",
        parse=settings.integer(0),
        default=d.max_pending_per_hour,
        help="new requests for approval accepted per hour, all chats together; "
        f"default {d.max_pending_per_hour}",
    )
    add(
        "--max-greetings-per-hour",
        env=ENV_PREFIX + "MAX_GREETINGS_PER_HOUR",
        parse=settings.integer(0),
        default=d.max_greetings_per_hour,
        help="new chats greeted per hour, all chats together; the rest are greeted when they "
        f"write again later; default {d.max_greetings_per_hour}",
    )


def from_args(args: argparse.Namespace) -> Config:
    """The Config of settings already resolved by `daemonkit.settings.parse_settings`."""
    return Config(
        policy=args.policy,
        prompt_interval_s=args.prompt_interval,
        reminder_interval_s=args.reminder_interval,
        max_pending_per_hour=args.max_pending_per_hour,
        max_greetings_per_hour=args.max_greetings_per_hour,
        db_path=db_path_from(args),
        log_level=args.log_level,
        log_format=args.log_format,
        metrics_listen=args.metrics_listen,
        metrics_token=flags.metrics_token(),
    )


def load(argv: Sequence[str] | None = None) -> Config:
    """onbod's config from argv and the environment; a bad value exits 2 with one line."""
    return from_args(settings.parse_settings(build_parser(), argv))
