"""The live-update hub: ONE thread wakes on every commit (`store.notify.ChangeWatcher`), reads
the new messages and the running agents once, and fans them out to the open streams.

API (generic: any page streaming some chats' messages can use it):

- `hub = Hub(db_path)`; `hub.start()` / `hub.stop()` (dashd's app lifespan and `Daemon.stop`).
- `async for event in hub.subscribe(jid, after_seq, lifetime_s=None, guard=None): ...` yields,
  for `jid`:
  first a `TypingEvent` with the chat's current state (an agent run is open for it), then every
  stored message with seq > `after_seq` as a `MessageEvent`, oldest first, each exactly once
  (the backlog is read once at subscription, then the hub's feed, de-duplicated by seq), and a
  `TypingEvent` whenever a run for the chat starts or ends. The iterator ends when the hub stops,
  after `lifetime_s` seconds, when its `guard` no longer holds (a `Guard`: the dashd login
  session it streams for is logged out or revoked, or the share link it streams for is rotated
  or revoked; checked once per wake-up for all open guards together, so such a commit ends its
  streams at once), or when the subscriber falls more than `queue_max` events behind
  (a client then reconnects from its last seq, so nothing is lost). One `MessageEvent` object
  is handed to every subscriber of its chat: a consumer may memoise its rendering by seq.
- `async for _ in hub.changes(lifetime_s=None, guard=None): ...` yields once per wake-up
  (coalesced when
  the consumer is slow): "something committed", for pages that re-read their own view.

Subscribers run on an asyncio loop (any, each remembers its own); the hub thread hands them
events with one `loop.call_soon_threadsafe` per loop and wake-up, never touching the database
per stream.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sqlite3
import threading
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

import anyio.to_thread
import store
from store import share_links
from store.clock import utcnow
from store.notify import ChangeWatcher

from dashd import auth

log = logging.getLogger(__name__)

PAGE: Final = 500  # messages read per query, by the hub and by a stream's backlog
QUEUE_MAX: Final = 2000  # events waiting for one slow stream before it is ended
RUNNING_MAX: Final = 1000  # open runs read per wake-up
WAIT_S: Final = 1.0  # the hub's longest sleep between checks of its stop flag


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A message stored in a subscribed chat; `seq` is the stream's event id."""

    message: store.Message

    @property
    def seq(self) -> int:
        return self.message.seq


@dataclass(frozen=True, slots=True)
class TypingEvent:
    """An agent run for the chat is open (True) or none is (False)."""

    jid: str
    typing: bool


LiveEvent = MessageEvent | TypingEvent


@dataclass(frozen=True, slots=True)
class Guard:
    """What a stream is opened under: a dashd login (`session`, key = the session family) or
    a public share link (`share-link`, key = the token's hash). The hub ends the stream at the
    first wake-up where it no longer holds."""

    kind: Literal["session", "share-link"]
    key: str


def broken_guards(conn: sqlite3.Connection, guards: set[Guard], now: datetime) -> set[Guard]:
    """Those of `guards` that no longer hold: one query per kind for all of them."""
    sessions = {g.key for g in guards if g.kind == "session"}
    links = {g.key for g in guards if g.kind == "share-link"}
    alive = {
        "session": auth.live_families(conn, sessions, now),
        "share-link": share_links.live_token_hashes(conn, links),
    }
    return {g for g in guards if g.key not in alive[g.kind]}


@dataclass(eq=False, slots=True)
class _Subscriber:
    """One stream's inbox, filled on its own loop by the hub thread's callbacks."""

    loop: asyncio.AbstractEventLoop
    queue_max: int
    guard: Guard | None = None  # what it streams under; ended when that no longer holds
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    events: collections.deque[LiveEvent] = field(default_factory=collections.deque)
    closed: bool = False
    lagged: bool = False

    def push(self, events: list[LiveEvent]) -> None:
        if self.closed:
            return
        if len(self.events) + len(events) > self.queue_max:
            self.closed = self.lagged = True
            self.events.clear()
        else:
            self.events.extend(events)
        self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.ready.set()


def _deliver(batch: list[tuple[_Subscriber, list[LiveEvent] | None]]) -> None:
    """On a subscriber's loop: hand each its events (None: close it)."""
    for sub, events in batch:
        if events is None:
            sub.close()
        else:
            sub.push(events)


def _discard(groups: dict[Any, set[_Subscriber]], key: object, sub: _Subscriber) -> None:
    group = groups.get(key)
    if group is not None:
        group.discard(sub)
        if not group:
            del groups[key]


def running_jids(conn: sqlite3.Connection) -> frozenset[str]:
    """Chats with an agent run open now (launched: a row owing a re-run is not running)."""
    runs = store.session_runs(conn, running_only=True, limit=RUNNING_MAX)
    return frozenset(r.chat_jid for r in runs if r.chat_jid and r.sandbox is not None)


class Hub:
    """The one reader of new messages and runs for every open stream of this process."""

    def __init__(self, db_path: str, *, queue_max: int = QUEUE_MAX) -> None:
        self.db_path = db_path
        self.queue_max = queue_max
        self.last_seq = 0  # the newest message handed out
        self.wakeups = 0
        self._running: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._chats: dict[str, set[_Subscriber]] = collections.defaultdict(set)
        self._changes: set[_Subscriber] = set()
        self._guards: dict[Guard, set[_Subscriber]] = collections.defaultdict(set)
        self._stop = threading.Event()
        self._started = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._readers = store.ThreadConnections(db_path, readonly=True)

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the hub thread; returns once it has read where the database stands."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="live-hub", daemon=True)
        self._thread.start()
        self._started.wait(30)

    def stop(self) -> None:
        """End every open subscription and the thread (idempotent; prompt: ≤ one poll)."""
        with self._lock:
            self._stopped = True
            subs = [s for group in self._chats.values() for s in group] + list(self._changes)
            self._chats.clear()
            self._changes.clear()
        self._dispatch([(s, None) for s in subs])
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._readers.close()

    @property
    def streams(self) -> int:
        with self._lock:
            return sum(len(g) for g in self._chats.values()) + len(self._changes)

    # -- the hub thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        except Exception:
            log.exception("live hub stopped: pages stop updating live until dashd restarts")
        finally:
            self._started.set()

    def _serve(self) -> None:
        conn = store.connect(self.db_path, readonly=True)
        try:
            watcher = ChangeWatcher(conn)
            self.last_seq = store.latest_seq(conn)
            self._running = running_jids(conn)
            self._started.set()
            more = False
            while not self._stop.is_set():
                if not more and not watcher.wait(WAIT_S, self._stop):
                    continue
                try:
                    more = self._step(conn)
                except Exception:
                    log.exception("live hub step failed; continuing")
                    more = False
                    self._stop.wait(WAIT_S)
        finally:
            conn.close()

    def _step(self, conn: sqlite3.Connection) -> bool:
        """Read what changed once and hand it out; True when a full page was read (more wait)."""
        conn.execute("BEGIN")  # one snapshot for the messages and the runs
        try:
            messages = store.new_messages(conn, self.last_seq, PAGE)
            running = running_jids(conn)
            with self._lock:
                guards = set(self._guards)
            ended = broken_guards(conn, guards, utcnow())
        finally:
            conn.execute("COMMIT")
        self.wakeups += 1
        per_chat: dict[str, list[LiveEvent]] = collections.defaultdict(list)
        for m in messages:
            per_chat[m.chat_jid].append(MessageEvent(m))
        for jid in running ^ self._running:
            per_chat[jid].append(TypingEvent(jid, jid in running))
        with self._lock:
            if messages:
                self.last_seq = messages[-1].seq
            self._running = running
            batch: list[tuple[_Subscriber, list[LiveEvent] | None]] = [
                (sub, events)
                for jid, events in per_chat.items()
                for sub in self._chats.get(jid, ())
            ]
            batch += [(sub, []) for sub in self._changes]
            batch += [(sub, None) for guard in ended for sub in self._guards.get(guard, ())]
        for guard in ended:
            log.info("live streams ended: their %s is gone", guard.kind)
        self._dispatch(batch)
        return len(messages) == PAGE

    @staticmethod
    def _dispatch(batch: list[tuple[_Subscriber, list[LiveEvent] | None]]) -> None:
        """One call_soon_threadsafe per loop for the whole batch."""
        per_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Subscriber, list[LiveEvent] | None]]]
        per_loop = collections.defaultdict(list)
        for sub, events in batch:
            per_loop[sub.loop].append((sub, events))
        for loop, items in per_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: its streams are gone
                loop.call_soon_threadsafe(_deliver, items)

    # -- subscriptions ------------------------------------------------------------------------

    def _add(self, sub: _Subscriber, jid: str | None) -> bool:
        with self._lock:
            if self._stopped:
                return False
            if jid is None:
                self._changes.add(sub)
            else:
                self._chats[jid].add(sub)
            if sub.guard is not None:
                self._guards[sub.guard].add(sub)
            return True

    def _remove(self, sub: _Subscriber, jid: str | None) -> None:
        with self._lock:
            if sub.guard is not None:
                _discard(self._guards, sub.guard, sub)
            if jid is None:
                self._changes.discard(sub)
            else:
                _discard(self._chats, jid, sub)

    def _backlog(self, jid: str, after_seq: int) -> list[store.Message]:
        return store.messages_since(self._readers.get(), jid, after_seq, PAGE)

    def _holds(self, guard: Guard | None) -> bool:
        """Whether `guard` holds now (read once at subscription: a rotate, logout or revoke
        committed before it, whose wake-up the new subscriber missed, still ends it)."""
        if guard is None:
            return True
        return not broken_guards(self._readers.get(), {guard}, utcnow())

    async def subscribe(
        self,
        jid: str,
        after_seq: int,
        *,
        lifetime_s: float | None = None,
        guard: Guard | None = None,
    ) -> AsyncGenerator[LiveEvent, None]:
        """Chat `jid`'s typing state now, then its messages after `after_seq` and typing
        changes as they are committed (see the module docstring)."""
        loop = asyncio.get_running_loop()
        sub = _Subscriber(loop, self.queue_max, guard)
        # Subscribe first, then read the backlog: a message committed meanwhile is in the
        # backlog, the feed, or both (then skipped by seq), never in neither.
        if not self._add(sub, jid):
            return
        timer = loop.call_later(lifetime_s, sub.close) if lifetime_s is not None else None
        try:
            with self._lock:
                typing = jid in self._running
            if not await anyio.to_thread.run_sync(self._holds, guard):
                return
            yield TypingEvent(jid, typing)
            last = after_seq
            while True:
                page = await anyio.to_thread.run_sync(self._backlog, jid, last)
                for m in page:
                    yield MessageEvent(m)
                    last = m.seq
                if len(page) < PAGE or sub.closed:
                    break
            while True:
                while sub.events:
                    event = sub.events.popleft()
                    if isinstance(event, MessageEvent):
                        if event.seq <= last:
                            continue
                        last = event.seq
                    yield event
                if sub.closed:
                    if sub.lagged:
                        log.info("live stream fell behind; ended chat=%s seq=%d", jid, last)
                    return
                sub.ready.clear()
                await sub.ready.wait()
        finally:
            if timer is not None:
                timer.cancel()
            self._remove(sub, jid)

    async def changes(
        self, *, lifetime_s: float | None = None, guard: Guard | None = None
    ) -> AsyncGenerator[None, None]:
        """Once per hub wake-up (several while the consumer is busy count as one)."""
        loop = asyncio.get_running_loop()
        sub = _Subscriber(loop, 1, guard)
        if not self._add(sub, None):
            return
        timer = loop.call_later(lifetime_s, sub.close) if lifetime_s is not None else None
        try:
            while True:
                await sub.ready.wait()
                sub.ready.clear()
                if sub.closed:
                    return
                sub.events.clear()
                yield None
        finally:
            if timer is not None:
                timer.cancel()
            self._remove(sub, None)
