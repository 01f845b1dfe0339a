"""The four chat-platform adapters `switchboard up --with` runs and `switchboard doctor` checks:
their programs, channel names, token variables (and the secret-store names that may hold the
tokens instead), and the variable naming each one's platform URL. Facts only; the adapters
themselves live in services/platforms (a test keeps the two in step)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import store
from gated import secret_store


@dataclass(frozen=True, slots=True)
class AdapterInfo:
    """One platform adapter, as `up` starts it and `doctor` checks it."""

    name: str  # as given to --with; the program is switchboard-<name>
    module: str  # the adapter's module: its settings, token variables and platform class
    channel: str  # the channel name it registers with gated (its jid prefix)
    tokens: tuple[str, ...]  # the variables it reads its platform token(s) from
    api_env: str  # the variable naming the platform's base URL (tests: a stand-in)
    api_default: str | None  # None: no default, the variable is required
    unit_port: int  # where its systemd unit listens (deploy/systemd/switchboard-<name>.service)
    jid_example: str  # what its chats' jids look like (docs/channels.md)
    # The console script's entry point (services/platforms/pyproject.toml), "" for <module>:main.
    lean_entry: str = ""

    @property
    def entry(self) -> str:
        """What switchboard-<name> runs: "module:function"."""
        return self.lean_entry or f"{self.module}:main"

    @property
    def script(self) -> str:
        return f"switchboard-{self.name}"

    def setting_env(self, setting: str) -> str:
        """The variable of one of adapterkit's common flags: SWITCHBOARD_TELEGRAM_LISTEN."""
        return f"SWITCHBOARD_{self.name.upper()}_{setting}"

    def api_url(self, environ: Mapping[str, str]) -> str | None:
        return environ.get(self.api_env) or self.api_default


ADAPTERS: Final = {
    a.name: a
    for a in (
        AdapterInfo(
            "telegram",
            "platforms.telegram",
            "tg",
            ("TELEGRAM_BOT_TOKEN",),
            "TELEGRAM_API_URL",
            "https://api.telegram.org/bot",
            8711,
            "tg:<chat id>",
            "platforms.lean:telegram",  # keeps python-telegram-bot's unused imports out
        ),
        AdapterInfo(
            "matrix",
            "platforms.matrix",
            "matrix",
            ("MATRIX_ACCESS_TOKEN",),
            "SWITCHBOARD_MATRIX_HOMESERVER",
            None,
            8712,
            "'matrix:<room id>'",
        ),
        AdapterInfo(
            "discord",
            "platforms.discord_adapter",
            "discord",
            ("DISCORD_BOT_TOKEN",),
            "SWITCHBOARD_DISCORD_API_BASE",
            "https://discord.com/api/v10",
            8713,
            "discord:<channel id>",
        ),
        AdapterInfo(
            "slack",
            "platforms.slack",
            "slack",
            ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"),
            "SLACK_API_URL",
            "https://slack.com/api/",
            8714,
            "slack:<team id>:<channel id>",
        ),
    )
}
CHANNEL_SECRET_ENV: Final = "SWITCHBOARD_CHANNEL_SECRET"  # noqa: S105 (a variable name)
SECRET_KEY_FILE_ENV: Final = "SWITCHBOARD_SECRET_KEY_FILE"  # noqa: S105 (a variable name)
# A listener on every address is reached on loopback.
WILDCARD_HOSTS: Final = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1", "[::]": "::1"}  # noqa: S104
TOKEN_VARIABLES: Final = frozenset(t for a in ADAPTERS.values() for t in a.tokens)

# name -> its value, or None when the secret store has no such secret.
SecretReader = Callable[[str], str | None]


def parse_with(value: str) -> list[AdapterInfo]:
    """`--with telegram,slack` -> those adapters (in the given order, each once)."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in ADAPTERS]
    if unknown or not names:
        raise store.InvalidInput(
            "with",
            f"{(unknown or [value])[0]!r} is not a chat adapter: expected a comma-separated "
            f"list of {','.join(ADAPTERS)}",
        )
    return [ADAPTERS[n] for n in dict.fromkeys(names)]


def secret_name(token_env: str) -> str:
    """Where a token may be kept in the secret store: TELEGRAM_BOT_TOKEN -> telegram-bot-token."""
    return token_env.lower().replace("_", "-")


def how_to_set(token_env: str) -> str:
    return f"set {token_env} or `switchboard secret set {secret_name(token_env)} --expose adapter`"


@dataclass(frozen=True, slots=True)
class FoundToken:
    """A platform token and where it was found (never shown: `source` is what is said)."""

    env: str
    value: str
    source: str  # "TELEGRAM_BOT_TOKEN" or "secret telegram-bot-token"


def find_tokens(
    info: AdapterInfo, environ: Mapping[str, str], read_secret: SecretReader
) -> dict[str, FoundToken]:
    """Each of the adapter's tokens that is set: its variable first, else the secret store."""
    found: dict[str, FoundToken] = {}
    for env in info.tokens:
        if value := environ.get(env, "").strip():
            found[env] = FoundToken(env, value, env)
        elif value := (read_secret(secret_name(env)) or "").strip():
            found[env] = FoundToken(env, value, f"secret {secret_name(env)}")
    return found


def missing_tokens(info: AdapterInfo, found: Mapping[str, FoundToken]) -> str | None:
    """None when every token is there, else what to do, e.g. `no token: set ... or ...`."""
    missing = [t for t in info.tokens if t not in found]
    if not missing:
        return None
    return "no token: " + "; and ".join(how_to_set(t) for t in missing)


def key_file(db: Path, environ: Mapping[str, str]) -> Path:
    """The secret store's key file, as gated and `switchboard secret` find it."""
    given = environ.get(SECRET_KEY_FILE_ENV)
    return Path(given) if given else secret_store.key_file_for(db)


def secret_reader(conn: sqlite3.Connection | None, key: Path) -> SecretReader:
    """Reads secrets by name; the key file is opened only once a secret exists (a missing or
    unsafe key file is then a SecretKeyError naming the file and the fix)."""
    opened: list[bytes] = []

    def read(name: str) -> str | None:
        if conn is None or secret_store.get_secret(conn, name) is None:
            return None
        if not opened:
            opened.append(secret_store.load_key(key))
        return secret_store.reveal(conn, opened[0], name)

    return read


def gated_url_for(listen: str) -> str:
    """The URL an adapter reaches gated at when gated listens on HOST:PORT."""
    host, _, port = listen.rpartition(":")
    host = WILDCARD_HOSTS.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
