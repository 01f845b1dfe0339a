"""The live hub in process, on a real database file: one wake-up per commit for any number of
subscribers, a subscriber that falls behind still gets everything and then ends, stop ends
every subscription, and a lifetime ends one."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from pathlib import Path

import pytest
import store
from dashd.live import Hub, LiveEvent, MessageEvent, TypingEvent
from dashd_harness import open_db

JID = "web:hub"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    path = tmp_path / "hub.db"
    conn = open_db(path)
    yield path, conn
    conn.close()


def reply(conn: sqlite3.Connection, text: str) -> int:
    return store.store_outbound(conn, JID, text, group_folder="hub")


async def until(cond: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def take(events: AsyncGenerator[LiveEvent, None], n: int) -> list[LiveEvent]:
    return [await asyncio.wait_for(anext(events), 10) for _ in range(n)]


def test_one_wakeup_per_commit_feeds_every_subscriber(
    db: tuple[Path, sqlite3.Connection],
) -> None:
    path, conn = db

    async def main() -> None:
        hub = Hub(str(path))
        hub.start()
        subs = [hub.subscribe(JID, store.latest_seq(conn)) for _ in range(50)]
        try:
            for s in subs:
                [first] = await take(s, 1)
                assert first == TypingEvent(JID, False)
            await until(lambda: hub.streams == 50, "50 subscriptions")
            warm = reply(conn, "past the backlog")  # each reads it from its backlog or the feed
            warmed = await asyncio.gather(*(take(s, 1) for s in subs))
            assert all(isinstance(e, MessageEvent) and e.seq == warm for [e] in warmed)
            before = hub.wakeups
            seq = reply(conn, "to everyone")
            got = await asyncio.gather(*(take(s, 1) for s in subs))
            assert all(isinstance(e, MessageEvent) and e.seq == seq for [e] in got)
            assert len({id(e) for [e] in got}) == 1  # one event object, shared
            assert hub.wakeups - before == 1
        finally:
            for s in subs:
                await s.aclose()
            hub.stop()
        assert hub.streams == 0

    asyncio.run(main())


def test_a_subscriber_that_falls_behind_gets_everything_then_ends(
    db: tuple[Path, sqlite3.Connection],
) -> None:
    path, conn = db

    async def main() -> None:
        hub = Hub(str(path), queue_max=3)
        hub.start()
        events = hub.subscribe(JID, store.latest_seq(conn))
        try:
            await take(events, 1)  # subscribed; reads nothing more until asked
            wanted = [reply(conn, f"burst {i}") for i in range(10)]
            await until(lambda: hub.last_seq == wanted[-1], "the hub to read the burst")
            got = [e.seq async for e in events if isinstance(e, MessageEvent)]
            assert got == wanted  # from the backlog; then the overflowed stream ends
            assert hub.streams == 0
        finally:
            hub.stop()

    asyncio.run(main())


def test_stop_and_lifetime_end_subscriptions(db: tuple[Path, sqlite3.Connection]) -> None:
    path, _ = db

    async def main() -> None:
        hub = Hub(str(path))
        hub.start()
        short = hub.subscribe(JID, 0, lifetime_s=0.2)
        started = time.monotonic()
        assert [e async for e in short] == [TypingEvent(JID, False)]
        assert 0.15 < time.monotonic() - started < 5
        long, changes = hub.subscribe(JID, 0), hub.changes()
        await take(long, 1)
        waiting = asyncio.ensure_future(anext(changes))
        await until(lambda: hub.streams == 2, "two subscriptions")
        hub.stop()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(long), 5)
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiting, 5)
        assert [e async for e in hub.subscribe(JID, 0)] == []  # a stopped hub takes no one

    asyncio.run(main())
