"""gated's settings: flag > SWITCHBOARD_* env var > default, read once into a frozen dataclass."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Literal

from store.daemon import add_common_args, db_path_from

TlsMode = Literal["ssl", "starttls", "plain"]


@dataclass(frozen=True, slots=True)
class EmailConfig:
    """The built-in email channel; enabled only when IMAP host and address are set."""

    address: str
    imap_host: str
    imap_port: int
    imap_user: str
    imap_password: str
    imap_folder: str
    imap_tls: TlsMode
    smtp_host: str
    smtp_port: int
    smtp_user: str
    smtp_password: str
    smtp_tls: TlsMode
    poll_s: float
    replies_per_hour: int


@dataclass(frozen=True, slots=True)
class GatedConfig:
    db: str
    listen_host: str
    listen_port: int
    channel_secret: str | None
    max_agents: int
    agent_timeout_s: float
    default_agent: str
    health_interval_s: float
    max_delivery_attempts: int
    email: EmailConfig | None


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"SWITCHBOARD_{name}", default)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gated",
        description="Switchboard gateway: channel HTTP API, email, routing, agents, delivery.",
    )
    add_common_args(p)
    p.add_argument(
        "--listen",
        default=_env("LISTEN", "127.0.0.1:8700"),
        help="HOST:PORT of the channel API (env SWITCHBOARD_LISTEN; 127.0.0.1:8700)",
    )
    p.add_argument(
        "--max-agents",
        type=int,
        default=int(_env("MAX_AGENTS", "4")),
        help="agent processes running at once (env SWITCHBOARD_MAX_AGENTS; 4)",
    )
    p.add_argument(
        "--agent-timeout",
        type=float,
        default=float(_env("AGENT_TIMEOUT", "300")),
        help="seconds before a run is stopped (env SWITCHBOARD_AGENT_TIMEOUT; 300)",
    )
    p.add_argument(
        "--default-agent",
        default=_env("DEFAULT_AGENT", "switchboard-echo"),
        help="agent command for groups without one "
        "(env SWITCHBOARD_DEFAULT_AGENT; switchboard-echo)",
    )
    p.add_argument(
        "--health-interval",
        type=float,
        default=float(_env("HEALTH_INTERVAL", "30")),
        help="seconds between adapter health pings (env SWITCHBOARD_HEALTH_INTERVAL; 30)",
    )
    p.add_argument(
        "--max-delivery-attempts",
        type=int,
        default=int(_env("MAX_DELIVERY_ATTEMPTS", "8")),
        help="tries before an outbound message is dead (env SWITCHBOARD_MAX_DELIVERY_ATTEMPTS; 8)",
    )
    email = p.add_argument_group(
        "email channel (enabled when --imap-host and --email-address are set)"
    )
    email.add_argument(
        "--email-address",
        default=_env("EMAIL_ADDRESS"),
        help="the agent's address (env SWITCHBOARD_EMAIL_ADDRESS)",
    )
    email.add_argument("--imap-host", default=_env("IMAP_HOST"), help="env SWITCHBOARD_IMAP_HOST")
    email.add_argument(
        "--imap-port",
        type=int,
        default=int(_env("IMAP_PORT", "0")) or None,
        help="env SWITCHBOARD_IMAP_PORT (default 993 ssl, 143 otherwise)",
    )
    email.add_argument("--imap-user", default=_env("IMAP_USER"), help="env SWITCHBOARD_IMAP_USER")
    email.add_argument(
        "--imap-password",
        default=_env("IMAP_PASSWORD"),
        help="env SWITCHBOARD_IMAP_PASSWORD (prefer the env var)",
    )
    email.add_argument(
        "--imap-folder",
        default=_env("IMAP_FOLDER", "INBOX"),
        help="env SWITCHBOARD_IMAP_FOLDER; INBOX",
    )
    email.add_argument(
        "--imap-tls",
        default=_env("IMAP_TLS", "ssl"),
        choices=["ssl", "starttls", "plain"],
        help="env SWITCHBOARD_IMAP_TLS; ssl (plain only for localhost tests)",
    )
    email.add_argument("--smtp-host", default=_env("SMTP_HOST"), help="env SWITCHBOARD_SMTP_HOST")
    email.add_argument(
        "--smtp-port",
        type=int,
        default=int(_env("SMTP_PORT", "0")) or None,
        help="env SWITCHBOARD_SMTP_PORT (default 465 ssl, 587 starttls, 25 plain)",
    )
    email.add_argument("--smtp-user", default=_env("SMTP_USER"), help="env SWITCHBOARD_SMTP_USER")
    email.add_argument(
        "--smtp-password",
        default=_env("SMTP_PASSWORD"),
        help="env SWITCHBOARD_SMTP_PASSWORD (prefer the env var)",
    )
    email.add_argument(
        "--smtp-tls",
        default=_env("SMTP_TLS", "starttls"),
        choices=["ssl", "starttls", "plain"],
        help="env SWITCHBOARD_SMTP_TLS; starttls",
    )
    email.add_argument(
        "--email-poll",
        type=float,
        default=float(_env("EMAIL_POLL", "30")),
        help="seconds between polls when the server lacks IDLE (env SWITCHBOARD_EMAIL_POLL; 30)",
    )
    email.add_argument(
        "--email-replies-per-hour",
        type=int,
        default=int(_env("EMAIL_REPLIES_PER_HOUR", "20")),
        help="replies per sender per hour (env SWITCHBOARD_EMAIL_REPLIES_PER_HOUR; 20)",
    )
    return p


def _port(value: int | None, tls: str, ports: dict[str, int]) -> int:
    return value if value else ports[tls]


def from_args(args: argparse.Namespace) -> GatedConfig:
    host, _, port = str(args.listen).rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"gated: --listen must be HOST:PORT, got {args.listen!r}")
    email = None
    if args.imap_host and args.email_address:
        email = EmailConfig(
            address=args.email_address.lower(),
            imap_host=args.imap_host,
            imap_port=_port(
                args.imap_port, args.imap_tls, {"ssl": 993, "starttls": 143, "plain": 143}
            ),
            imap_user=args.imap_user or args.email_address,
            imap_password=args.imap_password,
            imap_folder=args.imap_folder,
            imap_tls=args.imap_tls,
            smtp_host=args.smtp_host or args.imap_host,
            smtp_port=_port(
                args.smtp_port, args.smtp_tls, {"ssl": 465, "starttls": 587, "plain": 25}
            ),
            smtp_user=args.smtp_user,
            smtp_password=args.smtp_password,
            smtp_tls=args.smtp_tls,
            poll_s=args.email_poll,
            replies_per_hour=args.email_replies_per_hour,
        )
    return GatedConfig(
        db=db_path_from(args),
        listen_host=host,
        listen_port=int(port),
        channel_secret=os.environ.get("SWITCHBOARD_CHANNEL_SECRET") or None,
        max_agents=args.max_agents,
        agent_timeout_s=args.agent_timeout,
        default_agent=args.default_agent,
        health_interval_s=args.health_interval,
        max_delivery_attempts=args.max_delivery_attempts,
        email=email,
    )
