"""`switchboard doctor`'s checks of the chat adapters. For each adapter configured here
(registered with gated, or with a token in its variable or the secret store): gated answers at
the URL the adapter reaches it at, the adapter answers /health (with gated's last check of it),
and the platform accepts the token, asked with a call that changes nothing (Telegram getMe,
Slack auth.test and apps.connections.open, Discord GET /users/@me, Matrix whoami)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
from gated.adapters import Channel, list_channels
from gated.errors import GatedError

from switchboard import adapters
from switchboard.adapters import AdapterInfo, FoundToken

TIMEOUT_S: Final = 10.0
DEFAULT_GATED_LISTEN: Final = "127.0.0.1:8700"
HEALTH_INTERVAL_HINT: Final = "gated checks again every 30 s"
ANSWERED: Final = "answers "  # how `unreachable` starts an HTTP answer that is not 2xx
SLACK_REFUSALS: Final = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
    }
)
TOKEN_PREFIXES: Final = {"SLACK_BOT_TOKEN": "xoxb-", "SLACK_APP_TOKEN": "xapp-"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of doctor's report: the check, what it found, and a problem (a failure) or a
    warning (said, not a failure), each saying what to do."""

    check: str
    value: str
    problem: str | None = None
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class Configured:
    """What the database and the environment say about one adapter (read before any network
    call, so no connection is held open across one)."""

    info: AdapterInfo
    channel: Channel | None
    tokens: Mapping[str, FoundToken]
    token_error: str | None  # the secret store could not be read


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    """The platform's word on a token: accepted (detail: whose it is) or refused (why)."""

    accepted: bool
    detail: str


class Unanswered(Exception):
    """The platform gave no verdict on the token (an unexpected answer); the reason."""


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return row.fetchone() is not None


def configured_adapters(
    conn: sqlite3.Connection, db: Path, environ: Mapping[str, str]
) -> list[Configured]:
    """The adapters registered with gated or with a token here."""
    channels = {c.name: c for c in list_channels(conn)} if has_table(conn, "channels") else {}
    secrets_conn = conn if has_table(conn, "secrets") else None
    read = adapters.secret_reader(secrets_conn, adapters.key_file(db, environ))
    found = []
    for info in adapters.ADAPTERS.values():
        try:
            tokens, error = adapters.find_tokens(info, environ, read), None
        except GatedError as exc:  # the key file is missing or unsafe: said, not fatal
            tokens, error = {}, str(exc)
        channel = channels.get(info.channel)
        if channel is not None or tokens or error:
            found.append(Configured(info, channel, tokens, error))
    return found


def adapters_gated_url(environ: Mapping[str, str]) -> str:
    """gated's URL as the adapters are given it (SWITCHBOARD_GATED_URL, else gated's listen
    address, as `switchboard up` passes it)."""
    return environ.get("SWITCHBOARD_GATED_URL") or adapters.gated_url_for(
        environ.get("SWITCHBOARD_LISTEN") or DEFAULT_GATED_LISTEN
    )


def check_adapters(found: list[Configured], environ: Mapping[str, str]) -> list[Finding]:
    """Every configured adapter's findings, in the order of ADAPTERS."""
    out: list[Finding] = []
    gated_url = adapters_gated_url(environ)
    with (
        httpx.Client(timeout=TIMEOUT_S, trust_env=False) as local,
        httpx.Client(timeout=TIMEOUT_S) as cloud,
    ):
        gated_problem = unreachable(local, f"{gated_url}/v1/health")
        for c in found:
            name = c.info.name
            if gated_problem is None:
                out.append(Finding(f"{name} gated", f"ok ({gated_url})"))
            else:
                out.append(
                    Finding(
                        f"{name} gated",
                        f"DOWN at {gated_url}",
                        problem=f"{name}: gated does not answer at {gated_url} ({gated_problem}): "
                        "start it (switchboard up), or set SWITCHBOARD_GATED_URL to where it is",
                    )
                )
            out.append(adapter_health(local, c.info, c.channel))
            out += token_findings(cloud, c, environ)
    return out


def unreachable(
    client: httpx.Client, url: str, headers: Mapping[str, str] | None = None
) -> str | None:
    """None when `url` answers 2xx, else why not in a few words."""
    try:
        resp = client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if resp.is_success:
        return None
    try:
        error = resp.json().get("error")
    except (ValueError, AttributeError):
        error = None
    return f"{ANSWERED}{resp.status_code}" + (f": {error}" if error else "")


def adapter_health(client: httpx.Client, info: AdapterInfo, channel: Channel | None) -> Finding:
    """The adapter's /health, asked at the URL it registered, beside gated's last check."""
    check = f"{info.name} adapter"
    if channel is None:
        return Finding(
            check,
            "not registered with gated",
            warning=f"{info.name}: a token is set here, but no {info.name} adapter registered "
            f"with gated (start one: switchboard up --with {info.name}, or systemctl start "
            f"{info.script})",
        )
    recorded = f"gated's last check: {channel.health}" + (
        f" at {channel.health_checked_at}" if channel.health_checked_at else ""
    )
    if channel.health_error:
        recorded += f" ({channel.health_error})"
    problem = unreachable(client, f"{channel.url.rstrip('/')}/health", channel.auth_headers)
    if problem is not None:
        todo = (
            f"see its log (its lines in switchboard up, or journalctl -u {info.script})"
            if problem.startswith(ANSWERED)
            else f"is it running? (switchboard up --with {info.name}, or systemctl status "
            f"{info.script})"
        )
        return Finding(
            check,
            f"DOWN at {channel.url} ({recorded})",
            problem=f"{info.name}: the adapter's /health at {channel.url} failed ({problem}): "
            f"{todo}",
        )
    warning = None
    if channel.health == "down":
        warning = f"{info.name}: answers /health now, but {recorded}; {HEALTH_INTERVAL_HINT}"
    return Finding(check, f"ok ({channel.url}; {recorded})", warning=warning)


def token_findings(
    client: httpx.Client, c: Configured, environ: Mapping[str, str]
) -> list[Finding]:
    """One line per token of the adapter: accepted, refused, or why it could not be asked."""
    info = c.info
    if c.token_error is not None:
        return [
            Finding(
                f"{info.name} token",
                "unreadable",
                problem=f"{info.name}: the secret store cannot be read: {c.token_error}",
            )
        ]
    missing = adapters.missing_tokens(info, c.tokens)
    if missing is not None:
        return [
            Finding(
                f"{info.name} token",
                "not checked: none here",
                warning=f"{info.name}: token not checked, {missing} (under systemd: run doctor "
                f"with /etc/switchboard/{info.name}.env loaded, see docs/deploy.md)",
            )
        ]
    base = info.api_url(environ)
    out = []
    for env, token in c.tokens.items():
        check = f"{info.name} token" if len(info.tokens) == 1 else f"{info.name} {env}"
        if base is None:
            out.append(
                Finding(
                    check,
                    "not checked",
                    problem=f"{info.name}: {info.api_env} is not set (the adapter needs it too)",
                )
            )
            continue
        try:
            answer = ASK[info.name](client, base, token.env, token.value, environ)
        except (httpx.HTTPError, Unanswered) as exc:
            why = hide(f"{type(exc).__name__}: {exc}", token.value)
            out.append(
                Finding(
                    check,
                    "not checked",
                    problem=f"{info.name}: cannot ask the platform about {env} at {base} ({why}): "
                    f"check the network, or {info.api_env}",
                )
            )
            continue
        detail = hide(answer.detail, token.value)
        if answer.accepted:
            out.append(Finding(check, f"ok: {detail} ({token.source})"))
        else:
            out.append(
                Finding(
                    check,
                    f"REFUSED ({token.source})",
                    problem=f"{info.name}: {detail}; {adapters.how_to_set(env)} with a valid one",
                )
            )
    return out


def hide(text: str, token: str) -> str:
    """`text` without the token in it (a URL in an error message may carry it)."""
    return text.replace(token, "<token>") if token else text


def json_of(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def ask_telegram(
    client: httpx.Client, base: str, env: str, token: str, environ: Mapping[str, str]
) -> TokenAnswer:
    # As python-telegram-bot builds it: the token appended, or put in place of {token}.
    url = base.replace("{token}", token) if "{token}" in base else f"{base}{token}"
    resp = client.get(f"{url}/getMe")
    body = json_of(resp)
    if resp.status_code == 200 and body.get("ok"):
        return TokenAnswer(True, f"@{(body.get('result') or {}).get('username', '?')}")
    if resp.status_code in (401, 404):  # 404: not even shaped like a token
        return TokenAnswer(False, f"Telegram refused {env} ({resp.status_code} on getMe)")
    raise Unanswered(f"getMe answered {resp.status_code}: {body.get('description', '')}")


def ask_slack(
    client: httpx.Client, base: str, env: str, token: str, environ: Mapping[str, str]
) -> TokenAnswer:
    prefix = TOKEN_PREFIXES[env]
    if not token.startswith(prefix):
        return TokenAnswer(False, f"{env} is not the right kind of token (it starts with {prefix})")
    # The app-level token is proven the way the adapter does at start: the Socket Mode URL
    # it gets is never opened, and expires on Slack's side.
    method = "auth.test" if env == "SLACK_BOT_TOKEN" else "apps.connections.open"
    resp = client.post(f"{base.rstrip('/')}/{method}", headers={"Authorization": f"Bearer {token}"})
    body = json_of(resp)
    if body.get("ok"):
        if method == "auth.test":
            return TokenAnswer(True, f"team {body.get('team_id')} as {body.get('user_id')}")
        return TokenAnswer(True, "Socket Mode allowed")
    error = str(body.get("error") or resp.status_code)
    if error in SLACK_REFUSALS:
        return TokenAnswer(False, f"Slack refused {env} ({error} on {method})")
    raise Unanswered(f"{method} answered {error}")


def ask_discord(
    client: httpx.Client, base: str, env: str, token: str, environ: Mapping[str, str]
) -> TokenAnswer:
    resp = client.get(f"{base.rstrip('/')}/users/@me", headers={"Authorization": f"Bot {token}"})
    body = json_of(resp)
    if resp.status_code == 200:
        return TokenAnswer(True, f"{body.get('username', '?')} (id {body.get('id', '?')})")
    if resp.status_code == 401:
        return TokenAnswer(False, f"Discord refused {env} (401 on GET /users/@me)")
    raise Unanswered(f"GET /users/@me answered {resp.status_code}")


def ask_matrix(
    client: httpx.Client, base: str, env: str, token: str, environ: Mapping[str, str]
) -> TokenAnswer:
    resp = client.get(
        f"{base.rstrip('/')}/_matrix/client/v3/account/whoami",
        headers={"Authorization": f"Bearer {token}"},
    )
    body = json_of(resp)
    if resp.status_code == 200:
        user = str(body.get("user_id", "?"))
        expected = environ.get("SWITCHBOARD_MATRIX_USER")
        if expected and expected != user:
            return TokenAnswer(
                False, f"{env} is {user}'s, not {expected} (SWITCHBOARD_MATRIX_USER)"
            )
        return TokenAnswer(True, user)
    if resp.status_code == 401:
        errcode = body.get("errcode", "401")
        return TokenAnswer(False, f"the homeserver refused {env} ({errcode} on whoami)")
    raise Unanswered(f"whoami answered {resp.status_code}: {body.get('errcode', '')}")


Ask = Callable[[httpx.Client, str, str, str, Mapping[str, str]], TokenAnswer]
ASK: Final[dict[str, Ask]] = {
    "telegram": ask_telegram,
    "slack": ask_slack,
    "discord": ask_discord,
    "matrix": ask_matrix,
}
