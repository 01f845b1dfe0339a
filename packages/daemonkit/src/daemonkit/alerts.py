"""Alerts to the operators: a message in every operator chat when something goes wrong, once per
incident, and another when it is over. Incidents:

- a watched daemon's heartbeat is older than the stale time (and it did not stop cleanly);
- replies that could not be delivered (outbox rows gone 'dead'; alerts' own replies not
  counted, so an operator chat that cannot be reached does not alert about itself);
- chats marked errored (their agent failed again and again).

Whichever daemons are alive raise them: gated watches timed, onbod and dashd, the outbox and the
chats; dashd watches gated. Each incident's state is one `router_state` row changed by
compare-and-set, so of several watchers exactly one says each thing, and a restart says
nothing twice; each message's id names its incident too (storing an id twice stores nothing).
When gated itself is down its alert waits in the outbox for delivery, but an operator web chat
shows it in the dashboard at once."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import store
from store import Daemon

from daemonkit import settings

log = logging.getLogger(__name__)

SOURCE: Final = "alert"  # messages.source of an alert
DEFAULT_STALE_S: Final = 60.0
MIN_STALE_S: Final = 10.0  # two heartbeats (daemonkit.runner.HEARTBEAT_S)
CHECK_S: Final = 2.0  # how often a watcher looks
LISTED: Final = 10  # chats named in one message
CLOSED: Final = "closed"

DEAD_SQL = (
    "SELECT COUNT(*), MAX(o.seq) FROM outbox o JOIN messages m ON m.seq = o.seq "
    "WHERE o.status = 'dead' AND m.source != ?"
)
LATEST_DEAD_SQL = (
    "SELECT m.chat_jid, o.last_error FROM outbox o JOIN messages m ON m.seq = o.seq WHERE o.seq = ?"
)


def add_alert_args(parser: argparse.ArgumentParser) -> None:
    """--alert-stale-s (SWITCHBOARD_ALERT_STALE_S: one variable for every watcher)."""
    settings.add_setting(
        parser,
        "--alert-stale-s",
        env="SWITCHBOARD_ALERT_STALE_S",
        parse=settings.number(MIN_STALE_S, 86400),
        default=DEFAULT_STALE_S,
        metavar="SECONDS",
        help="tell the operator chats when a daemon's heartbeat is older than this; "
        f"default {DEFAULT_STALE_S:g}",
    )


def clock(stamp: str) -> str:
    """Stored UTC text as a person reads it: `2026-12-03 08:01:02 UTC`."""
    return stamp[:19].replace("T", " ") + " UTC"


def say(conn: sqlite3.Connection, text: str, incident: str, also: Sequence[str] = ()) -> int:
    """Store `text` for every operator chat and the chats `also` names (gated's
    --alert-email), each with id `alert:<incident>:<chat>`; how many chats."""
    targets: list[tuple[str, str | None]] = [(g.jid, g.folder) for g in store.operator_groups(conn)]
    targets += [(jid, None) for jid in also if jid not in {t[0] for t in targets}]
    if not targets:
        log.warning("no operator group to tell: %s", text)
    for jid, folder in targets:
        store.store_outbound(
            conn,
            jid,
            text,
            group_folder=folder,
            source=SOURCE,
            sender="switchboard",
            msg_id=f"alert:{incident}:{jid}",
        )
    log.warning("alert: %s", text)
    return len(targets)


def _moved(conn: sqlite3.Connection, key: str, before: str | None, after: str) -> bool:
    """Move the incident `key` from `before` to `after`; False when another watcher did."""
    return store.cas_state(conn, key, before, after)


@dataclass(slots=True)
class Alerter:
    """One daemon's watcher: call `step` from its loop; it looks every CHECK_S seconds."""

    conn: sqlite3.Connection
    daemons: Sequence[str]  # whose heartbeats to watch
    stale_s: float = DEFAULT_STALE_S
    outbox: bool = False  # watch for dead replies
    chats: bool = False  # watch for errored chats
    also: Sequence[str] = ()  # chats told besides the operator chats (email:<address>)
    _due: float = field(default=0.0, init=False)

    def _say(self, text: str, incident: str) -> None:
        say(self.conn, text, incident, self.also)

    def step(self, now: datetime) -> float:
        """Check when due; seconds until the next check."""
        left = self._due - time.monotonic()
        if left > 0:
            return left
        try:
            self.check(now)
        except sqlite3.Error as exc:  # busy or full: look again next time
            log.warning("alert check failed: %s", exc)
        self._due = time.monotonic() + CHECK_S
        return CHECK_S

    def check(self, now: datetime) -> None:
        for daemon in store.list_daemons(self.conn):
            if daemon.name in self.daemons:
                self.check_daemon(daemon, now)
        if self.outbox:
            self.check_outbox()
        if self.chats:
            self.check_chats()

    def check_daemon(self, daemon: Daemon, now: datetime) -> None:
        key = f"alert:daemon:{daemon.name}"
        state = store.get_state(self.conn, key)
        beat = daemon.heartbeat_at
        silent = (now - store.parse_iso(beat)).total_seconds() if beat else 0.0
        stale = beat is not None and daemon.stopped_at is None and silent > self.stale_s
        opened = state[len("open:") :] if state and state.startswith("open:") else None
        if stale and opened is None and beat is not None:
            if _moved(self.conn, key, state, f"open:{beat}"):
                self._say(
                    f"ALERT: {daemon.name} has not been heard from for {silent:.0f} s (last "
                    f"heartbeat {clock(beat)}, pid {daemon.pid} on {daemon.host}). See "
                    f"`switchboard status`, or `journalctl -u switchboard-{daemon.name}`.",
                    f"daemon:{daemon.name}:{beat}",
                )
        elif not stale and opened is not None and _moved(self.conn, key, state, CLOSED):
            if daemon.stopped_at is not None and (beat is None or beat <= opened):
                text = f"RECOVERED: {daemon.name} was stopped at {clock(daemon.stopped_at)}."
            else:
                text = (
                    f"RECOVERED: {daemon.name} is heard from again (heartbeat "
                    f"{clock(beat or '')}, pid {daemon.pid})."
                )
            self._say(text, f"daemon:{daemon.name}:{opened}:closed")

    def check_outbox(self) -> None:
        key = "alert:outbox"
        count, latest = self.conn.execute(DEAD_SQL, (SOURCE,)).fetchone()
        state = store.get_state(self.conn, key)
        alerted = int(state[len("open:") :]) if state and state.startswith("open:") else None
        if count and (alerted is None or latest > alerted):
            if _moved(self.conn, key, state, f"open:{latest}"):
                jid, error = self.conn.execute(LATEST_DEAD_SQL, (latest,)).fetchone()
                new = "" if alerted is None else " more"
                self._say(
                    f"ALERT: {count} repl{'y' if count == 1 else 'ies'} could not be delivered"
                    f"{new} (dead); the latest to {jid}: {(error or 'no error given')[:200]}. "
                    "See `switchboard status`.",
                    f"outbox:{latest}",
                )
        elif not count and alerted is not None and _moved(self.conn, key, state, CLOSED):
            self._say("RECOVERED: no undelivered replies left.", f"outbox:{alerted}:closed")

    def check_chats(self) -> None:
        key = "alert:chats"
        state = store.get_state(self.conn, key)
        alerted = set(json.loads(state)) if state else set()
        now_errored = {c.jid for c in store.errored_chats(self.conn)}
        if now_errored == alerted:
            return
        value = json.dumps(sorted(now_errored))
        if not _moved(self.conn, key, state, value):
            return
        incident = hashlib.sha256(f"{state}>{value}".encode()).hexdigest()[:16]
        if new := sorted(now_errored - alerted):
            self._say(
                f"ALERT: {named(new)} marked errored (its agent failed repeatedly); "
                "`switchboard status` lists errored chats.",
                f"chats:{incident}:errored",
            )
        if back := sorted(alerted - now_errored):
            self._say(f"RECOVERED: {named(back)} answered again.", f"chats:{incident}:ok")


def named(jids: list[str]) -> str:
    """`chat web:a`, `chats web:a, web:b and 3 more`."""
    shown = ", ".join(jids[:LISTED])
    more = f" and {len(jids) - LISTED} more" if len(jids) > LISTED else ""
    return f"chat{'s' if len(jids) > 1 else ''} {shown}{more}"
