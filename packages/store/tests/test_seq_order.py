"""The seq cursor on PostgreSQL: 8 writers hold their message's transaction open and commit in
a shuffled order while a reader follows the cursor (reading whenever the writers stand still);
every message is seen exactly once. The same run without the messages lock shows the reader
skipping, so the test can see the bug it guards against."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import store
from store import messages
from testkit.polling import wait_for

WRITERS = 8
WAIT_S = 30.0


@dataclass
class Writer:
    """One writer thread: its connection, backend pid and where it stands."""

    n: int
    conn: store.Conn
    pid: int
    seq: int = 0
    inserted: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    committed: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with store.tx(self.conn):
            self.seq = store.put_message(
                self.conn,
                store.NewMessage(id=f"w{self.n}", chat_jid=f"web:w{self.n}", content="hi"),
            ).seq
            self.inserted.set()
            if not self.released.wait(WAIT_S):
                raise TimeoutError(f"writer {self.n} never released")
        self.committed.set()


class Race:
    """The writers, the reader's connection and what the reader has seen."""

    def __init__(self, url: str) -> None:
        self.reader = store.open_db(url)
        self.writers = []
        for n in range(WRITERS):
            conn = store.open_db(url)
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            self.writers.append(Writer(n, conn, pid))
        self.threads = [threading.Thread(target=w.run, daemon=True) for w in self.writers]
        self.cursor = 0
        self.seen: list[str] = []

    def lock_waiters(self) -> set[int]:
        rows = self.reader.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        )
        return {r[0] for r in rows}

    def still(self) -> bool:
        """Every writer committed, holding its open transaction, or waiting for the lock."""
        waiting = self.lock_waiters()
        return all(
            w.committed.is_set()
            or (w.inserted.is_set() and not w.released.is_set())
            or w.pid in waiting
            for w in self.writers
        )

    def read(self) -> None:
        """Follow the cursor as a daemon does: everything above it, then move it."""
        for m in store.new_messages(self.reader, self.cursor):
            self.seen.append(m.id)
            self.cursor = m.seq

    def start(self) -> None:
        """Start the writers; return once each has inserted or waits for the lock."""
        for t in self.threads:
            t.start()
        wait_for(self.still, WAIT_S, "writers inserted or waiting")

    def release(self, order: list[int]) -> None:
        """Let the writers commit in `order`, the reader reading whenever they stand still."""
        for n in order:
            self.writers[n].released.set()
            wait_for(self.still, WAIT_S, "writers standing still")
            self.read()
        for t in self.threads:
            t.join(WAIT_S)
        self.read()

    def close(self) -> None:
        for w in self.writers:
            w.released.set()
        for t in self.threads:
            if t.is_alive():
                t.join(WAIT_S)
        for w in self.writers:
            w.conn.close()
        self.reader.close()


@pytest.fixture
def race(pg_migrated_url: str) -> Iterator[Race]:
    r = Race(pg_migrated_url)
    yield r
    r.close()


def release_order(seed: int) -> list[int]:
    order = list(range(WRITERS))
    random.Random(seed).shuffle(order)
    return order


@pytest.mark.parametrize("seed", [1, 2])
def test_writers_committing_out_of_order_lose_no_message_to_the_cursor(
    race: Race, seed: int
) -> None:
    race.start()
    race.release(release_order(seed))
    assert sorted(race.seen) == sorted(f"w{n}" for n in range(WRITERS))
    assert len(race.seen) == len(set(race.seen))
    seqs = [m.seq for m in store.new_messages(race.reader, 0)]
    assert seqs == sorted(seqs)


def test_without_the_messages_lock_the_reader_skips_committed_messages(
    race: Race, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counterfactual: with the lock switched off, all 8 hold a seq taken before their
    commit, and a random release order (not ascending by seq) commits some above an open
    one: the reader's cursor passes those, and they are never seen."""
    unlocked = messages.INSERT_MESSAGE_AND_CHAT_PG_SQL.replace(
        "pg_advisory_xact_lock(?)", "CAST(? AS BIGINT)"
    )
    monkeypatch.setattr(messages, "INSERT_MESSAGE_AND_CHAT_PG_SQL", unlocked)
    race.start()
    assert all(w.inserted.is_set() for w in race.writers)
    order = release_order(1)
    if [race.writers[n].seq for n in order] == sorted(w.seq for w in race.writers):
        order.reverse()
    race.release(order)
    stored = [m.id for m in store.new_messages(race.reader, 0)]
    assert len(stored) == WRITERS  # all committed
    assert len(race.seen) < WRITERS  # and some never reached the reader
