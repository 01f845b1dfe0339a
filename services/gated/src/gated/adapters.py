"""Registered channel adapters (the `channels` table): register, look up by token or jid prefix,
and `HealthMonitor`, which pings each adapter's `GET {url}/health` and records ok/down."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import httpx
import store
from daemonkit.worker import run_steps

from gated.channel_models import Capabilities
from gated.config import Config
from gated.split import DEFAULT_MAX_CHARS

log = logging.getLogger(__name__)

Health = Literal["ok", "down", "unknown"]
Protocol = Literal["1.0", "1.1"]
HEALTH_TIMEOUT_S: Final = 5.0

# Parameters: name, token_hash, url, jid_prefixes (JSON), max_message_chars, registered_at,
# protocol, send_secret, capabilities (JSON).
REGISTER_SQL = """
INSERT INTO channels (name, token_hash, url, jid_prefixes, max_message_chars, registered_at,
                      protocol, send_secret, capabilities)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET
    token_hash = excluded.token_hash, url = excluded.url, jid_prefixes = excluded.jid_prefixes,
    max_message_chars = excluded.max_message_chars, registered_at = excluded.registered_at,
    protocol = excluded.protocol, send_secret = excluded.send_secret,
    capabilities = excluded.capabilities,
    health = 'unknown', health_checked_at = NULL, health_error = NULL
"""

# Parameters: prefix, prefix. The channel named like the prefix, or listing it as an extra one.
BY_PREFIX_SQL = """
SELECT * FROM channels
WHERE name = ? OR EXISTS (SELECT 1 FROM json_each(channels.jid_prefixes) WHERE value = ?)
ORDER BY name
"""


@dataclass(frozen=True, slots=True)
class Channel:
    """A registered adapter: where to send its chats' replies and how it is doing."""

    name: str
    url: str
    jid_prefixes: tuple[str, ...]
    max_message_chars: int
    registered_at: str
    health: Health
    health_checked_at: str | None
    health_error: str | None
    protocol: Protocol = "1.0"
    send_secret: str | None = None  # sent as `Authorization: Bearer` to a 1.1 adapter
    capabilities: Capabilities | None = None  # None for 1.0

    @property
    def v1_1(self) -> bool:
        """Speaks protocol 1.1: gets the secret, formats, thread ids and typing."""
        return self.protocol == "1.1" and self.capabilities is not None

    @property
    def auth_headers(self) -> dict[str, str]:
        """The headers of every call to the adapter (the secret for 1.1, none for 1.0)."""
        return {"Authorization": f"Bearer {self.send_secret}"} if self.send_secret else {}

    @property
    def prefixes(self) -> tuple[str, ...]:
        """Every jid prefix this channel owns: its name and the extra ones."""
        return (self.name, *self.jid_prefixes)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Channel:
        return cls(
            name=row["name"],
            url=row["url"],
            jid_prefixes=tuple(json.loads(row["jid_prefixes"] or "[]")),
            max_message_chars=int(row["max_message_chars"] or DEFAULT_MAX_CHARS),
            registered_at=row["registered_at"],
            health=row["health"],
            health_checked_at=row["health_checked_at"],
            health_error=row["health_error"],
            protocol="1.1" if row["protocol"] == "1.1" else "1.0",
            send_secret=row["send_secret"],
            capabilities=(
                Capabilities.model_validate_json(row["capabilities"])
                if row["protocol"] == "1.1"
                else None
            ),
        )


def register_channel(
    conn: sqlite3.Connection,
    name: str,
    token_hash: str,
    url: str,
    *,
    jid_prefixes: list[str] | None = None,
    max_message_chars: int = DEFAULT_MAX_CHARS,
    protocol: Protocol = "1.0",
    send_secret: str | None = None,
    capabilities: Capabilities | None = None,
) -> Channel:
    """Create a channel, or replace the url/token/prefixes/limit/protocol of the one with this
    name. For 1.1, `capabilities.max_text` (when given) is the limit, stored in both places.

    A prefix already owned by another channel is refused (`store.InvalidInput`).
    """
    if capabilities is not None:
        if capabilities.max_text is None:
            capabilities = capabilities.model_copy(update={"max_text": max_message_chars})
        max_message_chars = capabilities.max_text or max_message_chars
    caps_json = capabilities.model_dump_json() if capabilities is not None else "{}"
    prefixes = sorted(set(jid_prefixes or []) - {name})
    with store.tx(conn):
        for prefix in [name, *prefixes]:
            for other in conn.execute(BY_PREFIX_SQL, (prefix, prefix)):
                if other["name"] != name:
                    raise store.InvalidInput(
                        "jid_prefixes" if prefix != name else "name",
                        f"prefix {prefix!r} already belongs to channel {other['name']!r}",
                    )
        conn.execute(
            REGISTER_SQL,
            (
                name,
                token_hash,
                url,
                json.dumps(prefixes),
                max_message_chars,
                store.now_iso(),
                protocol,
                send_secret,
                caps_json,
            ),
        )
        row = conn.execute("SELECT * FROM channels WHERE name = ?", (name,)).fetchone()
    return Channel.from_row(row)


def channel_by_token_hash(conn: sqlite3.Connection, token_hash: str) -> Channel | None:
    row = conn.execute("SELECT * FROM channels WHERE token_hash = ?", (token_hash,)).fetchone()
    return Channel.from_row(row) if row else None


def channel_for_prefix(conn: sqlite3.Connection, prefix: str) -> Channel | None:
    """The adapter that owns jid prefix `prefix` (`term` for `term:alice`), if any."""
    row = conn.execute(BY_PREFIX_SQL, (prefix, prefix)).fetchone()
    return Channel.from_row(row) if row else None


def list_channels(conn: sqlite3.Connection) -> list[Channel]:
    return [Channel.from_row(r) for r in conn.execute("SELECT * FROM channels ORDER BY name")]


def record_health(
    conn: sqlite3.Connection, name: str, health: Health, error: str | None, now: datetime
) -> None:
    with store.tx(conn):
        conn.execute(
            "UPDATE channels SET health = ?, health_error = ?, health_checked_at = ? "
            "WHERE name = ?",
            (health, error, store.iso(now), name),
        )


def channel_summary(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Per adapter channel: url, health, last error, last check (for `daemons.info`)."""
    return {
        c.name: {
            "url": c.url,
            "health": c.health,
            "error": c.health_error,
            "checked_at": c.health_checked_at,
        }
        for c in list_channels(conn)
    }


def check_health(client: httpx.Client, channel: Channel) -> str | None:
    """Ping the adapter; None when healthy, else why not."""
    try:
        resp = client.get(
            f"{channel.url.rstrip('/')}/health",
            headers=channel.auth_headers,
            timeout=HEALTH_TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if resp.status_code // 100 != 2:
        return f"GET /health answered {resp.status_code}"
    return None


class HealthMonitor:
    """Pings every registered adapter each `config.health_interval_s` seconds."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._conns = store.ThreadConnections(config.db)
        self._client = httpx.Client()

    @property
    def conn(self) -> sqlite3.Connection:
        """The calling thread's connection."""
        return self._conns.get()

    def step(self, now: datetime) -> float:
        """Ping each adapter once and record the result; returns seconds until the next round."""
        for channel in list_channels(self.conn):
            error = check_health(self._client, channel)
            health: Health = "ok" if error is None else "down"
            if health != channel.health:
                log.info(
                    "adapter health channel=%s health=%s error=%s", channel.name, health, error
                )
            record_health(self.conn, channel.name, health, error, now)
        return self.config.health_interval_s

    def run(self, stop: threading.Event) -> None:
        """Ping until `stop` is set; an unexpected error is logged and the next round goes on."""
        try:
            run_steps("health check round", self.step, stop, idle_s=self.config.health_interval_s)
        finally:
            self.close()

    def close(self) -> None:
        self._client.close()
        self._conns.close()
