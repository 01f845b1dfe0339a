"""The flags and variables every adapter takes, read once into a frozen `AdapterConfig`: flag >
SWITCHBOARD_* variable > default; secrets and the platform token only from the environment."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from daemonkit import settings
from daemonkit.flags import LOG_FORMATS, LOG_LEVELS

DEFAULT_GATED: Final = "http://127.0.0.1:8700"
SECRET_ENV: Final = "SWITCHBOARD_CHANNEL_SECRET"  # noqa: S105 (a variable name)


@dataclass(frozen=True, slots=True)
class AdapterConfig:
    name: str  # channel name = jid prefix
    gated_url: str
    listen_host: str
    listen_port: int  # 0: any free port
    public_url: str | None  # the URL gated calls; None: http://<listen>
    state_dir: Path
    log_level: str
    log_format: str
    channel_secret: str = field(repr=False)
    token: str = field(repr=False)  # the platform's own token
    options: Mapping[str, Any] = field(default_factory=dict)  # the platform's own flags


def parser_for(prog: str, description: str, token_env: str) -> argparse.ArgumentParser:
    """The common flags; their variables are named after the program (SWITCHBOARD_TELEGRAM_*
    for switchboard-telegram)."""
    short = prog.removeprefix("switchboard-")
    key = short.upper().replace("-", "_")
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=(
            f"Secrets come from the environment only: {SECRET_ENV} (the secret gated runs "
            f"with) and {token_env} (the platform's token)."
        ),
    )
    settings.add_setting(
        parser,
        "--gated",
        env="SWITCHBOARD_GATED_URL",
        parse=settings.text,
        default=DEFAULT_GATED,
        metavar="URL",
        help=f"gated's channel API; default {DEFAULT_GATED}",
    )
    settings.add_setting(
        parser,
        "--listen",
        env=f"SWITCHBOARD_{key}_LISTEN",
        parse=settings.listen_address,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="where /send, /typing and /health listen; default 127.0.0.1:0 (any free port)",
    )
    settings.add_setting(
        parser,
        "--public-url",
        env=f"SWITCHBOARD_{key}_PUBLIC_URL",
        parse=settings.optional_text,
        default=None,
        metavar="URL",
        help="the URL gated calls; default http://<listen>",
    )
    settings.add_setting(
        parser,
        "--state-dir",
        env=f"SWITCHBOARD_{key}_STATE_DIR",
        parse=settings.text,
        default=f"./data/{short}",
        metavar="DIR",
        help=f"where the adapter keeps its offsets and sent keys; default ./data/{short}",
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
    return parser


def read_config(
    *,
    prog: str,
    description: str,
    name: str,
    token_env: str,
    argv: Sequence[str] | None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> AdapterConfig:
    """Parse argv and the environment (exit 2 with one line on a bad or missing setting)."""
    env = os.environ if environ is None else environ
    parser = parser_for(prog, description, token_env)
    if add_arguments is not None:
        add_arguments(parser)
    args = settings.parse_settings(parser, argv)
    secret = env.get(SECRET_ENV, "")
    if not secret:
        settings.settings_error(prog, f"{SECRET_ENV} is not set (the secret gated runs with)")
    token = env.get(token_env, "").strip()
    if not token:
        settings.settings_error(prog, f"{token_env} is not set (the platform's token)")
    common = {"gated", "listen", "public_url", "state_dir", "log_level", "log_format"}
    host, port = args.listen
    return AdapterConfig(
        name=name,
        gated_url=args.gated,
        listen_host=host,
        listen_port=port,
        public_url=args.public_url,
        state_dir=Path(args.state_dir),
        log_level=args.log_level,
        log_format=args.log_format,
        channel_secret=secret,
        token=token,
        options={k: v for k, v in vars(args).items() if k not in common},
    )
