"""The one way a daemon reads a setting: flag, else its `SWITCHBOARD_*` variable, else the
default, checked by the same parser whichever source it came from. A bad value is one line
naming the flag or variable, the value and what is allowed, and exit status 2."""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from store import validate

Parse = Callable[[str], Any]

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})
HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,252}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")


class SettingError(ValueError):
    """A setting's value is not allowed; the message says what is. `shown` replaces the value
    in the error line when the value may hold a secret (a database URL's password)."""

    def __init__(self, message: str, *, shown: str | None = None) -> None:
        super().__init__(message)
        self.shown = shown


class _SettingAction(argparse.Action):
    """An argparse action that keeps the raw flag text; `resolve` parses it afterwards."""

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str,
        *,
        env: str,
        parse: Parse,
        setting_default: Any,
        flag_value: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.env = env
        self.parse = parse
        self.setting_default = setting_default
        self.flag_value = flag_value
        nargs = 0 if flag_value is not None else None
        super().__init__(option_strings, dest, nargs=nargs, default=None, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        raw = self.flag_value if self.flag_value is not None else values
        setattr(namespace, self.dest, (option_string or self.option_strings[0], raw))


def add_setting(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    flag: str,
    *,
    env: str,
    parse: Parse,
    default: Any,
    help: str,
    metavar: str | None = None,
    switch: bool = False,
) -> None:
    """Declare `flag` (env var `env`, `default` when neither is set). `parse` turns the text
    into the value or raises SettingError; `switch` makes a flag that takes no value."""
    parser.add_argument(
        flag,
        action=_SettingAction,
        env=env,
        parse=parse,
        setting_default=default,
        flag_value="true" if switch else None,
        metavar=metavar or getattr(parse, "metavar", None),
        help=f"{help} (env {env})",
    )


def settings_error(prog: str, message: str) -> NoReturn:
    """Print the one line a person needs and exit 2, as argparse does for a bad flag."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def resolve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Fill every declared setting of `args` from flag > env > default, each value parsed."""
    for action in parser._actions:
        if not isinstance(action, _SettingAction):
            continue
        given = getattr(args, action.dest, None)
        if given is not None:
            source, raw = given
        elif action.env in os.environ:
            source, raw = action.env, os.environ[action.env]
        else:
            setattr(args, action.dest, action.setting_default)
            continue
        try:
            value = action.parse(raw)
        except SettingError as exc:
            value = raw if exc.shown is None else exc.shown
            settings_error(parser.prog, f"{source}={value!r} is not allowed: {exc}")
        setattr(args, action.dest, value)
    return args


def parse_settings(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None = None
) -> argparse.Namespace:
    """`parser.parse_args(argv)` with every setting resolved and checked."""
    return resolve(parser, parser.parse_args(argv))


# -- parsers: each takes the text and returns the value, or raises SettingError --------------


def text(raw: str) -> str:
    """Any text without control characters."""
    if validate.CONTROL_RE.search(raw):
        raise SettingError("expected text without control characters")
    return raw


def optional_text(raw: str) -> str | None:
    """Text; empty means unset."""
    return text(raw) or None


class choice:
    """Exactly one of `allowed` (case-insensitive with `fold`)."""

    def __init__(self, *allowed: str, fold: bool = False) -> None:
        self.allowed = allowed
        self.fold = fold
        self.metavar = "{" + ",".join(allowed) + "}"

    def __call__(self, raw: str) -> str:
        value = raw.upper() if self.fold else raw
        if value not in self.allowed:
            raise SettingError("expected one of " + ", ".join(self.allowed))
        return value


def integer(minimum: int | None = None, maximum: int | None = None) -> Parse:
    """A whole number within [minimum, maximum]."""
    return _bounded(int, "a whole number", minimum, maximum)


def number(minimum: float | None = None, maximum: float | None = None) -> Parse:
    """A finite number within [minimum, maximum]."""
    return _bounded(float, "a number", minimum, maximum)


def _bounded(
    convert: Callable[[str], float], kind: str, minimum: float | None, maximum: float | None
) -> Parse:
    allowed = _range_text(kind, minimum, maximum)

    def parse(raw: str) -> float:
        try:
            value = convert(raw.strip())
        except ValueError:
            raise SettingError(allowed) from None
        if not math.isfinite(value):
            raise SettingError(allowed)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise SettingError(allowed)
        return value

    return parse


def optional_port(raw: str) -> int | None:
    """A TCP port 1-65535; empty or 0 means 'the default for the mode'."""
    if raw.strip() in ("", "0"):
        return None
    value: int = integer(1, 65535)(raw)
    return value


def boolean(raw: str) -> bool:
    """1/true/yes/on or 0/false/no/off (any case)."""
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise SettingError("expected one of 1, true, yes, on, 0, false, no, off")


def host(raw: str) -> str:
    """A host name or IP address (IPv6 in brackets or bare)."""
    value = raw.strip()
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if not HOST_RE.fullmatch(value):
        raise SettingError("expected a host name or IP address")
    return value


def optional_host(raw: str) -> str | None:
    """A host, or empty for none."""
    return host(raw) if raw.strip() else None


def is_loopback(name: str) -> bool:
    """True for `localhost` and loopback IP addresses (the only hosts plain text may reach)."""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def listen_address(raw: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:8080`; port 0 picks a free one) -> (host, port)."""
    hostpart, sep, port = raw.strip().rpartition(":")
    problem = "expected HOST:PORT (port 0-65535), e.g. 127.0.0.1:8080"
    if not sep or not port.isdigit() or int(port) > 65535:
        raise SettingError(problem)
    try:
        name = host(hostpart)
    except SettingError:
        raise SettingError(problem) from None
    return name.strip("[]"), int(port)


def optional_listen_address(raw: str) -> tuple[str, int] | None:
    """`HOST:PORT` as for `listen_address`, or empty for none (the listener is off)."""
    return listen_address(raw) if raw.strip() else None


def _range_text(kind: str, minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"expected {kind} from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f"expected {kind} of at least {minimum:g}"
    if maximum is not None:
        return f"expected {kind} of at most {maximum:g}"
    return f"expected {kind}"
