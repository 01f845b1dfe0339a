"""`switchboard-adapter-check URL --secret S --say CMD --chat JID`: check a channel adapter
against a throw-away gated at URL; prints one row per rule and exits 0 (no FAIL), 1 (a rule
failed) or 2 (bad arguments, or the throw-away gated cannot run)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import store
from daemonkit import settings

from switchboard.adaptercheck.errors import CheckError
from switchboard.adaptercheck.probe import Probe
from switchboard.adaptercheck.rules import RULES, Row, run_rules
from switchboard.adaptercheck.throwaway import ThrowawayGated

PROG = "switchboard-adapter-check"
DEFAULT_TIMEOUT_S = 20.0
EPILOG = (
    "rules, in order (n/a when the adapter's protocol or capabilities do not call for one):\n"
    + "\n".join(f"  {rule.name:<20} {rule.summary}" for rule in RULES)
    + "\n\nexit status: 0 no rule failed, 1 a rule failed, 2 bad arguments or no gated here"
)


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a bad argument as one line (no usage block) and exit 2."""

    def error(self, message: str) -> NoReturn:
        settings.settings_error(self.prog, message)


@dataclass(frozen=True, slots=True)
class CheckConfig:
    host: str
    port: int
    secret: str
    say: list[str]
    chat_jid: str
    timeout: float
    json: bool
    keep: bool


def build_parser() -> OneLineParser:
    p = OneLineParser(
        prog=PROG,
        description="Check a channel adapter against the adapter protocol: start a throw-away "
        "gated at URL (the --gated URL the adapter is started with), wait for the adapter to "
        "register, drive it rule by rule and print PASS/FAIL per rule.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("url", metavar="URL", help="where to run gated: http://127.0.0.1:PORT")
    settings.add_setting(
        p,
        "--secret",
        env="SWITCHBOARD_CHANNEL_SECRET",
        parse=settings.text,
        default="",
        metavar="S",
        help="the channel secret the adapter registers with",
    )
    p.add_argument(
        "--say",
        required=True,
        metavar="CMD",
        help="command that makes a user's message appear on the platform: run as "
        "`CMD TEXT`, and `CMD --file PATH TEXT` for a file (split like a shell, never run by one)",
    )
    p.add_argument(
        "--chat",
        required=True,
        metavar="JID",
        help="the chat --say talks in, e.g. tg:42 (registered in the throw-away gated)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"longest wait for each step; default {DEFAULT_TIMEOUT_S:g}",
    )
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (gated's db and log)"
    )
    return p


def parse_config(argv: Sequence[str] | None) -> CheckConfig:
    """The checked arguments; one line and exit 2 when one is wrong."""
    parser = build_parser()
    args = settings.parse_settings(parser, argv)
    parts = urlsplit(args.url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or port is None or parts.path not in ("", "/") or parts.query:
        parser.error(f"URL: expected http://127.0.0.1:PORT, got {args.url!r}")
    if not parts.hostname or not settings.is_loopback(parts.hostname):
        parser.error(f"URL: the throw-away gated runs on this machine only, not {parts.hostname!r}")
    if not args.secret:
        parser.error("--secret (or SWITCHBOARD_CHANNEL_SECRET) is required")
    try:
        say = shlex.split(args.say)
    except ValueError as exc:
        parser.error(f"--say: {exc}")
    if not say or shutil.which(say[0]) is None:
        parser.error(f"--say: no such command {say[0] if say else args.say!r}")
    try:
        store.validate.jid(args.chat, "--chat")
    except store.InvalidInput as exc:
        parser.error(str(exc))
    if not 0 < args.timeout <= 3600:
        parser.error(f"--timeout: expected seconds from 0 to 3600, got {args.timeout:g}")
    return CheckConfig(
        host=parts.hostname,
        port=port,
        secret=args.secret,
        say=say,
        chat_jid=args.chat,
        timeout=args.timeout,
        json=args.json,
        keep=args.keep,
    )


def check(config: CheckConfig, workdir: Path) -> list[Row]:
    """Run every rule against the adapter, with the throw-away gated in `workdir`."""
    gated = ThrowawayGated(config.host, config.port, config.secret, config.chat_jid, workdir)
    gated.prepare()
    gated.start()
    probe = Probe(
        gated,
        chat_jid=config.chat_jid,
        say_command=config.say,
        timeout=config.timeout,
        workdir=workdir,
    )
    print(
        f"{PROG}: gated at {gated.url}; waiting up to {config.timeout:g} s for the adapter of "
        f"{config.chat_jid} to register",
        file=sys.stderr,
    )
    try:
        return list(run_rules(probe))
    finally:
        probe.close()
        gated.stop()


def table(rows: list[Row]) -> str:
    """The rows as aligned columns, and a count."""
    width = max(len(r.rule) for r in rows)
    lines = [f"{'rule':<{width}}  result  detail"]
    lines += [f"{r.rule:<{width}}  {r.result:<6}  {r.detail}" for r in rows]
    counts = {result: sum(r.result == result for r in rows) for result in ("PASS", "FAIL", "n/a")}
    lines.append(f"{len(rows)} rules: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    # The store functions reading the throw-away database must not follow a deployment's
    # SWITCHBOARD_FILES_DIR (or any other setting) elsewhere.
    for key in [k for k in os.environ if k.startswith("SWITCHBOARD_")]:
        del os.environ[key]
    workdir = Path(tempfile.mkdtemp(prefix="adapter-check-"))
    try:
        rows = check(config, workdir)
    except CheckError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if config.keep:
            print(f"{PROG}: kept {workdir} (gated.log, messages.db)", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if config.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        print(table(rows))
    return 1 if any(r.result == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
