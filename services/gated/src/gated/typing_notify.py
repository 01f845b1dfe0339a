"""Typing notices (adapter protocol 1.1): while an agent runs for a chat whose adapter has
`capabilities.typing`, POST {url}/typing at once and every TYPING_INTERVAL_S until the run ends,
from one background thread, so a slow adapter never holds up routing or the run."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Final

import httpx
import store

from gated.adapters import channel_for_prefix
from gated.runspec import RunSpec
from gated.threads import thread_for_topic

log = logging.getLogger(__name__)

TYPING_INTERVAL_S: Final = 4.0
TYPING_TIMEOUT_S: Final = 2.0


@dataclass(slots=True)
class _Typing:
    chat_jid: str
    topic: str
    due: float  # monotonic time of the next notice


class TypingNotifier:
    """`started`/`ended` are called by the agent pool around each run; the notices go out on
    this notifier's own thread (started with the first run, ended by `stop`)."""

    def __init__(self, db: str, interval_s: float = TYPING_INTERVAL_S) -> None:
        self.db = db
        self.interval_s = interval_s
        self._cond = threading.Condition()
        self._runs: dict[int, _Typing] = {}  # by session_log id of the run
        self._thread: threading.Thread | None = None
        self._stopping = False

    def started(self, spec: RunSpec) -> None:
        """A run began: notify its chat now and then every interval (chat runs only)."""
        if spec.key.kind != "chat":
            return
        with self._cond:
            if self._stopping:
                return
            self._runs[spec.run_id] = _Typing(spec.chat_jid, spec.topic, time.monotonic())
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="typing", daemon=True)
                self._thread.start()
            self._cond.notify()

    def ended(self, spec: RunSpec) -> None:
        with self._cond:
            self._runs.pop(spec.run_id, None)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._runs.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(TYPING_TIMEOUT_S * 2)

    def _due(self) -> list[_Typing] | None:
        """Wait for the next notices that fall due (None: stopping)."""
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                due = [t for t in self._runs.values() if t.due <= now]
                if due:
                    for t in due:
                        t.due = now + self.interval_s
                    return [_Typing(t.chat_jid, t.topic, t.due) for t in due]
                wake = min((t.due for t in self._runs.values()), default=now + 60.0)
                self._cond.wait(max(0.0, wake - now))
            return None

    def _loop(self) -> None:
        conn = store.connect(self.db)
        client = httpx.Client(timeout=TYPING_TIMEOUT_S)
        try:
            while (due := self._due()) is not None:
                for typing in due:
                    try:
                        self._notify(conn, client, typing)
                    except (httpx.HTTPError, sqlite3.Error) as exc:
                        log.debug("typing notice failed chat=%s error=%s", typing.chat_jid, exc)
                    except Exception:
                        log.exception("typing notice failed chat=%s", typing.chat_jid)
        finally:
            client.close()
            conn.close()

    def _notify(self, conn: sqlite3.Connection, client: httpx.Client, typing: _Typing) -> None:
        channel = channel_for_prefix(conn, store.validate.channel_of(typing.chat_jid))
        if channel is None or channel.capabilities is None or not channel.capabilities.typing:
            return
        body = {
            "chat_jid": typing.chat_jid,
            "thread_id": thread_for_topic(conn, typing.chat_jid, typing.topic),
        }
        resp = client.post(
            f"{channel.url.rstrip('/')}/typing", json=body, headers=channel.auth_headers
        )
        if not resp.is_success:
            log.debug("typing notice answered chat=%s status=%d", typing.chat_jid, resp.status_code)
