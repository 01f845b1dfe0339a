"""gated.takeover on one database, without a gated process: a live owner's open run is held
elsewhere and left alone; a gone owner's is taken over (closed, its batch owed here and planned
again with its system messages); so is a run of ours whose end could not be recorded."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import store
from gated import takeover
from gated.planning import next_plan
from gated_loop_support import put
from store import CarriedMessage, WorkKey, liveness

KEY = WorkKey.chat("web:take")
CARRIED: tuple[CarriedMessage, ...] = (
    {"origin": "timed", "event": "task_missed", "body": "missed", "created_at": "2026-01-01Z"},
)
SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = store.open(tmp_path / "messages.db")
    store.register_group(c, KEY.jid, "take")
    yield c
    c.close()


@pytest.fixture
def other_gated() -> Iterator[subprocess.Popen[bytes]]:
    """A stand-in for another gated: a process with a real identity, killed at the end."""
    proc = subprocess.Popen(SLEEPER)
    yield proc
    proc.kill()
    proc.wait()


def token_of(proc: subprocess.Popen[bytes]) -> str:
    here = liveness.me()
    return liveness.Owner(here.host, proc.pid, liveness.process_start(proc.pid), "other").token


def batch(conn: sqlite3.Connection) -> list[int]:
    """Two messages past the key's cursor; their seqs."""
    seqs = [put(conn, KEY.jid, "one"), put(conn, KEY.jid, "two")]
    store.set_state(conn, KEY.cursor_key, str(seqs[0] - 1))
    return seqs


def open_run(conn: sqlite3.Connection, owner: str, batch_end: int) -> int:
    run = store.NewRun(KEY, "take", "", KEY.jid, batch_end, CARRIED, sandbox="none")
    run_id = store.open_run(conn, run, owner=owner)
    assert run_id is not None
    return run_id


def closed(conn: sqlite3.Connection, run_id: int) -> tuple[str, str]:
    row = conn.execute("SELECT result, error FROM session_log WHERE id = ?", (run_id,)).fetchone()
    return row["result"], row["error"]


def test_a_live_owners_run_is_held_elsewhere_and_left_alone(
    conn: sqlite3.Connection, other_gated: subprocess.Popen[bytes]
) -> None:
    seqs = batch(conn)
    open_run(conn, token_of(other_gated), seqs[0])
    before = store.open_run_of(conn, KEY)
    assert takeover.held_elsewhere(conn, KEY)
    assert takeover.take_over_all(conn) == 0
    assert store.open_run_of(conn, KEY) == before


def test_a_gone_owners_run_is_taken_over_and_exactly_its_batch_planned_again(
    conn: sqlite3.Connection, other_gated: subprocess.Popen[bytes]
) -> None:
    seqs = batch(conn)
    gone = token_of(other_gated)
    run_id = open_run(conn, gone, seqs[0])  # the first message only: the batch it ran
    other_gated.kill()
    other_gated.wait()
    assert not takeover.held_elsewhere(conn, KEY)
    assert closed(conn, run_id) == ("killed", "gated gone (dead)")
    owed = store.open_run_of(conn, KEY)
    assert owed is not None
    assert (owed.owner, owed.launched, owed.batch_end) == (liveness.me().token, False, seqs[0])
    plan = next_plan(conn, KEY, scanned=seqs[1])
    assert plan is not None
    assert [m.seq for m in plan.messages] == seqs[:1]
    assert (plan.owed, plan.carried_system_messages) == (owed, CARRIED)


def test_a_run_of_ours_left_open_after_it_stopped_is_taken_over(conn: sqlite3.Connection) -> None:
    seqs = batch(conn)
    run_id = open_run(conn, liveness.me().token, seqs[1])
    assert not takeover.held_elsewhere(conn, KEY)  # called for a key this gated is not running
    assert closed(conn, run_id) == ("killed", takeover.UNRECORDED)
    owed = store.open_run_of(conn, KEY)
    assert owed is not None
    assert (owed.id != run_id, owed.launched, owed.batch_end) == (True, False, seqs[1])
    assert not takeover.held_elsewhere(conn, KEY)  # an owed row of ours is just ours
    assert store.open_run_of(conn, KEY) == owed
