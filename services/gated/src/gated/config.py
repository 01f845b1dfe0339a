"""gated's settings: flag > SWITCHBOARD_* env var > default, read once into a frozen dataclass."""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

from daemonkit import alerts, flags, settings
from daemonkit.flags import add_common_args, db_path_from
from store.blobs import MAX_FILE_BYTES

from gated import secret_store
from gated.egress.rules import parse_resolve_map
from gated.email.parse import ADDRESS_RE
from gated.sandbox.spec import (
    DEFAULT_CPU_S,
    DEFAULT_DISK_MB,
    DEFAULT_MEMORY_MB,
    DEFAULT_PIDS,
    SANDBOX_MODES,
    SandboxMode,
)

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
class Config:
    """Everything gated reads at start, passed down to each component."""

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
    secret_key_file: str = ""  # the secrets' key; "" = secrets.key beside the database
    runtime_dir: str | None = None  # per-run proxy sockets; None = a private temp dir
    proxy_ca_file: str | None = None  # extra CA certificates trusted for secrets' upstreams
    log_level: str = "INFO"
    log_format: str = "text"
    sandbox: SandboxMode = "auto"
    require_sandbox: bool = False
    bwrap: str = "bwrap"
    mount_roots: tuple[str, ...] = ()
    skills_dir: str | None = None  # shared skills, read-only in every run (sandbox.skills)
    memory_mb: int = DEFAULT_MEMORY_MB
    pids: int = DEFAULT_PIDS
    cpu_s: int = DEFAULT_CPU_S
    disk_mb: int = DEFAULT_DISK_MB
    egress_resolve: tuple[tuple[str, str], ...] = ()  # tests only: (name, address) pairs
    max_file_bytes: int = MAX_FILE_BYTES  # the largest file an adapter may upload (/v1/files)
    alert_stale_s: float = alerts.DEFAULT_STALE_S  # a watched daemon silent longer: an alert
    alert_email: str | None = None  # alerts also mailed here (with the email channel on)
    metrics_token: str | None = None  # Bearer token a non-loopback /metrics scrape must carry

    @property
    def db_path(self) -> str:
        return self.db


TLS_MODES = ("ssl", "starttls", "plain")
IMAP_PORTS = {"ssl": 993, "starttls": 143, "plain": 143}
SMTP_PORTS = {"ssl": 465, "starttls": 587, "plain": 25}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gated",
        description="Switchboard gateway: channel HTTP API, email, routing, agents, delivery.",
    )
    add_common_args(p)
    alerts.add_alert_args(p)
    add = functools.partial(settings.add_setting, p)
    add(
        "--alert-email",
        env="SWITCHBOARD_ALERT_EMAIL",
        parse=settings.optional_text,
        default=None,
        metavar="ADDRESS",
        help="also send alerts (daemon silent, replies undelivered, chats errored) to this "
        "address, through the email channel; default none",
    )
    add(
        "--listen",
        env="SWITCHBOARD_LISTEN",
        parse=settings.listen_address,
        default=("127.0.0.1", 8700),
        metavar="HOST:PORT",
        help="address of the channel API; default 127.0.0.1:8700",
    )
    add(
        "--max-agents",
        env="SWITCHBOARD_MAX_AGENTS",
        parse=settings.integer(1, 1000),
        default=4,
        help="agent processes running at once; default 4",
    )
    add(
        "--agent-timeout",
        env="SWITCHBOARD_AGENT_TIMEOUT",
        parse=settings.number(0.1),
        default=300.0,
        metavar="SECONDS",
        help="seconds before a run is stopped; default 300",
    )
    add(
        "--default-agent",
        env="SWITCHBOARD_DEFAULT_AGENT",
        parse=_command,
        default="switchboard-echo",
        help="agent command for groups without one; default switchboard-echo",
    )
    add(
        "--health-interval",
        env="SWITCHBOARD_HEALTH_INTERVAL",
        parse=settings.number(0.1),
        default=30.0,
        metavar="SECONDS",
        help="seconds between adapter health pings; default 30",
    )
    add(
        "--max-delivery-attempts",
        env="SWITCHBOARD_MAX_DELIVERY_ATTEMPTS",
        parse=settings.integer(1, 1000),
        default=8,
        help="tries before an outbound message is dead; default 8",
    )
    add(
        "--max-file-bytes",
        env="SWITCHBOARD_MAX_FILE_BYTES",
        parse=settings.integer(1, 2**40),
        default=MAX_FILE_BYTES,
        metavar="BYTES",
        help=f"largest file a channel adapter may upload (POST /v1/files); default "
        f"{MAX_FILE_BYTES} (25 MiB)",
    )
    add(
        "--secret-key-file",
        env="SWITCHBOARD_SECRET_KEY_FILE",
        parse=settings.optional_text,
        default=None,
        metavar="PATH",
        help="key of the secret store (0600); default secrets.key beside the database",
    )
    add(
        "--runtime-dir",
        env="SWITCHBOARD_RUNTIME_DIR",
        parse=settings.optional_text,
        default=None,
        metavar="DIR",
        help="where per-run proxy sockets (credential and egress proxy) live; default "
        "$RUNTIME_DIRECTORY, else a private temporary directory",
    )
    add(
        "--proxy-ca-file",
        env="SWITCHBOARD_PROXY_CA_FILE",
        parse=settings.optional_text,
        default=None,
        metavar="PATH",
        help="extra CA certificates (PEM) the credential proxy trusts for upstreams, besides "
        "the system's",
    )
    sandbox = p.add_argument_group("agent sandbox and limits (see docs/security.md)")
    add = functools.partial(settings.add_setting, sandbox)
    add(
        "--sandbox",
        env="SWITCHBOARD_SANDBOX",
        parse=settings.choice(*SANDBOX_MODES),
        default="auto",
        help="confinement of agents: auto (bubblewrap when it works here, else unconfined "
        "and said so), bwrap (always; a run fails without it) or none; default auto",
    )
    add(
        "--require-sandbox",
        env="SWITCHBOARD_REQUIRE_SANDBOX",
        parse=settings.boolean,
        default=False,
        switch=True,
        help="never start an unconfined agent: such a run fails with an error",
    )
    add(
        "--bwrap",
        env="SWITCHBOARD_BWRAP",
        parse=_command,
        default="bwrap",
        metavar="PATH",
        help="the bubblewrap executable; default bwrap on PATH",
    )
    add(
        "--mount-root",
        env="SWITCHBOARD_MOUNT_ROOTS",
        parse=_directories,
        default=(),
        metavar="DIR[:DIR...]",
        help="directories under which a group's declared mounts may lie; default none",
    )
    add(
        "--skills-dir",
        env="SWITCHBOARD_SKILLS_DIR",
        parse=_existing_directory,
        default=None,
        metavar="DIR",
        help="shared skills directory, read-only at /skills in every confined run "
        "($SWITCHBOARD_SKILLS names it; unconfined runs get the host path); default none",
    )
    for flag, env, default, what in (
        ("--agent-memory-mb", "SWITCHBOARD_AGENT_MEMORY_MB", DEFAULT_MEMORY_MB, "memory (MB)"),
        ("--agent-pids", "SWITCHBOARD_AGENT_PIDS", DEFAULT_PIDS, "processes and threads"),
        ("--agent-cpu-s", "SWITCHBOARD_AGENT_CPU_S", DEFAULT_CPU_S, "CPU seconds"),
        ("--agent-disk-mb", "SWITCHBOARD_AGENT_DISK_MB", DEFAULT_DISK_MB, "disk (MB)"),
    ):
        add(
            flag,
            env=env,
            parse=settings.integer(1, 1_000_000),
            default=default,
            help=f"limit of one agent run: {what}; default {default}",
        )
    add(
        "--egress-resolve",
        env="SWITCHBOARD_EGRESS_RESOLVE",
        parse=_resolve_map,
        default=(),
        metavar="NAME=IP[,NAME=IP...]",
        help="for tests only: names the egress proxy of network=proxy groups resolves to these "
        "addresses without DNS, and lets reach them even when loopback or private; default "
        "none",
    )
    email = p.add_argument_group(
        "email channel (enabled when --imap-host and --email-address are set)"
    )
    add = functools.partial(settings.add_setting, email)
    add(
        "--email-address",
        env="SWITCHBOARD_EMAIL_ADDRESS",
        parse=_address,
        default=None,
        help="the agent's address",
    )
    add(
        "--imap-host",
        env="SWITCHBOARD_IMAP_HOST",
        parse=settings.optional_host,
        default=None,
        help="IMAP server",
    )
    add(
        "--imap-port",
        env="SWITCHBOARD_IMAP_PORT",
        parse=settings.optional_port,
        default=None,
        help="default 993 ssl, 143 otherwise",
    )
    add(
        "--imap-user",
        env="SWITCHBOARD_IMAP_USER",
        parse=settings.optional_text,
        default=None,
        help="IMAP login; default the email address",
    )
    add(
        "--imap-password",
        env="SWITCHBOARD_IMAP_PASSWORD",
        parse=settings.text,
        default="",
        help="IMAP password (prefer the env var)",
    )
    add(
        "--imap-folder",
        env="SWITCHBOARD_IMAP_FOLDER",
        parse=_folder,
        default="INBOX",
        help="folder to read; default INBOX",
    )
    add(
        "--imap-tls",
        env="SWITCHBOARD_IMAP_TLS",
        parse=settings.choice(*TLS_MODES),
        default="ssl",
        help="ssl, starttls or plain (plain only with a loopback host); default ssl",
    )
    add(
        "--smtp-host",
        env="SWITCHBOARD_SMTP_HOST",
        parse=settings.optional_host,
        default=None,
        help="SMTP server; default the IMAP host",
    )
    add(
        "--smtp-port",
        env="SWITCHBOARD_SMTP_PORT",
        parse=settings.optional_port,
        default=None,
        help="default 465 ssl, 587 starttls, 25 plain",
    )
    add(
        "--smtp-user",
        env="SWITCHBOARD_SMTP_USER",
        parse=settings.optional_text,
        default=None,
        help="SMTP login; default none",
    )
    add(
        "--smtp-password",
        env="SWITCHBOARD_SMTP_PASSWORD",
        parse=settings.text,
        default="",
        help="SMTP password (prefer the env var)",
    )
    add(
        "--smtp-tls",
        env="SWITCHBOARD_SMTP_TLS",
        parse=settings.choice(*TLS_MODES),
        default="starttls",
        help="ssl, starttls or plain (plain only with a loopback host); default starttls",
    )
    add(
        "--email-poll",
        env="SWITCHBOARD_EMAIL_POLL",
        parse=settings.number(0.1),
        default=30.0,
        metavar="SECONDS",
        help="seconds between polls when the server lacks IDLE; default 30",
    )
    add(
        "--email-replies-per-hour",
        env="SWITCHBOARD_EMAIL_REPLIES_PER_HOUR",
        parse=settings.integer(0),
        default=20,
        help="replies per sender per hour; default 20",
    )
    return p


def _command(raw: str) -> str:
    value = settings.text(raw).strip()
    if not value:
        raise settings.SettingError("expected a command")
    return value


def _directories(raw: str) -> tuple[str, ...]:
    parts = [settings.text(p).strip() for p in raw.split(os.pathsep)]
    dirs = tuple(p for p in parts if p)
    for d in dirs:
        if not os.path.isabs(d):
            raise settings.SettingError(f"expected absolute directories, got {d!r}")
    return dirs


def _existing_directory(raw: str) -> str | None:
    value = settings.text(raw).strip()
    if not value:
        return None
    if not os.path.isabs(value):
        raise settings.SettingError(f"expected an absolute directory, got {value!r}")
    if not os.path.isdir(value):
        raise settings.SettingError(f"{value!r} is not an existing directory")
    return value


def _resolve_map(raw: str) -> tuple[tuple[str, str], ...]:
    try:
        return parse_resolve_map(settings.text(raw))
    except ValueError as exc:
        raise settings.SettingError(f"expected NAME=IP[,NAME=IP...]: {exc}") from None


def _address(raw: str) -> str | None:
    value = settings.text(raw).strip().lower()
    if value and not ADDRESS_RE.fullmatch(value):
        raise settings.SettingError("expected an email address such as agent@example.org")
    return value or None


def _folder(raw: str) -> str:
    value = settings.text(raw).strip()
    if not value:
        raise settings.SettingError("expected a folder name such as INBOX")
    return value


def _tls_checked(prog: str, kind: str, tls: str, host: str) -> TlsMode:
    """TLS stays on unless the value is exactly `plain` and the host is this machine."""
    if tls == "plain" and not settings.is_loopback(host):
        settings.settings_error(
            prog,
            f"--{kind}-tls plain is not allowed for host {host!r}: use ssl or starttls "
            "(plain only for 127.0.0.1/localhost)",
        )
    return cast(TlsMode, tls)


def from_args(args: argparse.Namespace) -> Config:
    """The config of settings already resolved by `daemonkit.settings.parse_settings`."""
    host, port = args.listen
    email = None
    if args.imap_host and args.email_address:
        smtp_host = args.smtp_host or args.imap_host
        email = EmailConfig(
            address=args.email_address,
            imap_host=args.imap_host,
            imap_port=args.imap_port or IMAP_PORTS[args.imap_tls],
            imap_user=args.imap_user or args.email_address,
            imap_password=args.imap_password,
            imap_folder=args.imap_folder,
            imap_tls=_tls_checked("gated", "imap", args.imap_tls, args.imap_host),
            smtp_host=smtp_host,
            smtp_port=args.smtp_port or SMTP_PORTS[args.smtp_tls],
            smtp_user=args.smtp_user or "",
            smtp_password=args.smtp_password,
            smtp_tls=_tls_checked("gated", "smtp", args.smtp_tls, smtp_host),
            poll_s=args.email_poll,
            replies_per_hour=args.email_replies_per_hour,
        )
    return Config(
        db=db_path_from(args),
        listen_host=host,
        listen_port=port,
        channel_secret=os.environ.get("SWITCHBOARD_CHANNEL_SECRET") or None,
        max_agents=args.max_agents,
        agent_timeout_s=args.agent_timeout,
        default_agent=args.default_agent,
        health_interval_s=args.health_interval,
        max_delivery_attempts=args.max_delivery_attempts,
        email=email,
        secret_key_file=args.secret_key_file or str(secret_store.key_file_for(db_path_from(args))),
        runtime_dir=args.runtime_dir or os.environ.get("RUNTIME_DIRECTORY") or None,
        proxy_ca_file=args.proxy_ca_file,
        log_level=args.log_level,
        log_format=args.log_format,
        sandbox=cast(SandboxMode, args.sandbox),
        require_sandbox=args.require_sandbox,
        bwrap=args.bwrap,
        mount_roots=args.mount_root,
        skills_dir=args.skills_dir,
        memory_mb=args.agent_memory_mb,
        pids=args.agent_pids,
        cpu_s=args.agent_cpu_s,
        disk_mb=args.agent_disk_mb,
        egress_resolve=args.egress_resolve,
        max_file_bytes=args.max_file_bytes,
        alert_stale_s=args.alert_stale_s,
        alert_email=_alert_email(args.alert_email, email),
        metrics_token=flags.metrics_token(),
    )


def _alert_email(address: str | None, email: EmailConfig | None) -> str | None:
    """--alert-email, checked: an address, and only with the email channel configured."""
    if not address:
        return None
    if not ADDRESS_RE.fullmatch(address):
        settings.settings_error("gated", f"--alert-email: {address[:80]!r} is not an address")
    if email is None:
        settings.settings_error(
            "gated", "--alert-email needs the email channel (--imap-host and --email-address)"
        )
    return address.lower()


def load(argv: Sequence[str] | None = None) -> Config:
    """gated's config from argv and the environment; a bad value exits 2 with one line."""
    return from_args(settings.parse_settings(build_parser(), argv))
