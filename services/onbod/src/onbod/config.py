"""onbod's settings: flag > SWITCHBOARD_ONBOARDING_* env var > default, read once at start."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Final, Literal, get_args

from onbod.errors import InvalidSetting

Policy = Literal["approval", "open", "closed"]
POLICIES: Final[tuple[str, ...]] = get_args(Policy)
ENV_PREFIX: Final = "SWITCHBOARD_ONBOARDING_"


@dataclass(frozen=True, slots=True)
class Config:
    policy: Policy = "approval"
    prompt_interval_s: float = 60.0  # at most one "ask again" per chat per this
    reminder_interval_s: float = 3600.0  # at most one pending reminder per chat per this
    max_pending_per_hour: int = 20  # new pending requests accepted per hour (all chats)
    max_greetings_per_hour: int = 200  # new chats greeted per hour (all chats)


def _env(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name, default)


def add_args(parser: argparse.ArgumentParser) -> None:
    """The onboarding flags, each defaulting to its SWITCHBOARD_ONBOARDING_* variable."""
    d = Config()
    parser.add_argument(
        "--policy",
        default=_env("POLICY", d.policy),
        help="approval (ask a name, an operator approves), open (register at once) or closed "
        f"(record, never answer) (env {ENV_PREFIX}POLICY; default {d.policy})",
    )
    parser.add_argument(
        "--prompt-interval",
        default=_env("PROMPT_INTERVAL", str(d.prompt_interval_s)),
        help="seconds between two 'ask again' prompts to one chat "
        f"(env {ENV_PREFIX}PROMPT_INTERVAL; default {d.prompt_interval_s:g})",
    )
    parser.add_argument(
        "--reminder-interval",
        default=_env("REMINDER_INTERVAL", str(d.reminder_interval_s)),
        help="seconds between two 'still awaiting approval' reminders to one chat "
        f"(env {ENV_PREFIX}REMINDER_INTERVAL; default {d.reminder_interval_s:g})",
    )
    parser.add_argument(
        "--max-pending-per-hour",
        default=_env("MAX_PENDING_PER_HOUR", str(d.max_pending_per_hour)),
        help="new requests for approval accepted per hour, all chats together "
        f"(env {ENV_PREFIX}MAX_PENDING_PER_HOUR; default {d.max_pending_per_hour})",
    )
    parser.add_argument(
        "--max-greetings-per-hour",
        default=_env("MAX_GREETINGS_PER_HOUR", str(d.max_greetings_per_hour)),
        help="new chats greeted per hour, all chats together; the rest are greeted when they "
        f"write again later (env {ENV_PREFIX}MAX_GREETINGS_PER_HOUR; "
        f"default {d.max_greetings_per_hour})",
    )


def _number(field: str, text: str, *, integer: bool) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise InvalidSetting(field, f"must be {kind}, got {text!r}") from None
    if value < 0:
        raise InvalidSetting(field, f"must not be negative, got {text!r}")
    return value


def from_args(args: argparse.Namespace) -> Config:
    """Validate the parsed flags into a Config; InvalidSetting names the bad one."""
    if args.policy not in POLICIES:
        raise InvalidSetting("policy", f"unknown policy {args.policy!r}; one of {POLICIES}")
    return Config(
        policy=args.policy,
        prompt_interval_s=_number("prompt-interval", args.prompt_interval, integer=False),
        reminder_interval_s=_number("reminder-interval", args.reminder_interval, integer=False),
        max_pending_per_hour=int(
            _number("max-pending-per-hour", args.max_pending_per_hour, integer=True)
        ),
        max_greetings_per_hour=int(
            _number("max-greetings-per-hour", args.max_greetings_per_hour, integer=True)
        ),
    )
