"""The one rule that says when a lease's owner is gone: the pure `gone_reason` case by case, the
owner token's round trip, and `owner_gone` / `release_gone_claims` on real processes (a dead
pid, an unreaped zombie, a pid with another start time) and real heartbeat rows."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import store
from hypothesis import given
from hypothesis import strategies as st
from store import liveness
from store.connection import local_commit_count
from store.liveness import Beat, Owner, ProcessState, gone_reason, owner_gone, parse_owner
from store.outbox import release_gone_claims

NOW = store.parse_iso("2026-11-23T10:00:00.000Z")
ME = Owner("here", 100, "5000", "me0")
RUNNING = ProcessState("S", "7000")


def judge(
    owner: Owner,
    process: ProcessState | None = None,
    beat: Beat | None = None,
    held_s: float | None = 0.0,
) -> str | None:
    held_since = None if held_s is None else NOW - timedelta(seconds=held_s)
    return gone_reason(owner, me=ME, process=process, beat=beat, held_since=held_since, now=NOW)


def beat(age_s: float, stopped: bool = False) -> Beat:
    return Beat(NOW - timedelta(seconds=age_s), stopped)


# -- the rule -------------------------------------------------------------------------------


def test_an_owner_on_this_host_is_judged_by_its_process() -> None:
    owner = Owner("here", 200, "7000", "other")
    assert judge(owner, process=None) == "dead"
    assert judge(owner, process=ProcessState("Z", "7000")) == "zombie"
    assert judge(owner, process=ProcessState("X", "7000")) == "zombie"
    assert judge(owner, process=ProcessState("S", "7001")) == "pid reused"
    assert judge(owner, process=RUNNING) is None
    # Alive and the same process: kept, however old its lease or silent its heartbeat.
    assert judge(owner, process=RUNNING, beat=beat(3600), held_s=3600) is None


def test_an_old_pid_only_token_is_judged_by_its_pid() -> None:
    legacy = Owner("here", 200, None, None)
    assert judge(legacy, process=None) == "dead"
    assert judge(legacy, process=ProcessState("Z", "1")) == "zombie"
    assert judge(legacy, process=RUNNING) is None
    assert judge(Owner("there", 200, None, None), held_s=3600) is None  # left to the lease


def test_this_process_keeps_its_leases_and_an_earlier_life_of_its_pid_loses_them() -> None:
    assert judge(ME, process=ProcessState("R", "5000")) is None
    before_reboot = Owner("here", 100, "5000", "earlier")
    assert judge(before_reboot, process=ProcessState("R", "5000")) == "replaced"


def test_an_owner_on_another_host_is_judged_by_its_heartbeat() -> None:
    owner = Owner("there", 200, "7000", "inst")
    assert judge(owner, beat=beat(1)) is None
    assert judge(owner, beat=beat(liveness.SILENT_AFTER_S + 1)) == "silent"
    assert judge(owner, beat=beat(1, stopped=True)) == "stopped"
    # No heartbeat row names its instance: replaced by a newer one, once the lease is older
    # than a heartbeat could take to appear.
    assert judge(owner, beat=None, held_s=liveness.SILENT_AFTER_S + 1) == "replaced"
    assert judge(owner, beat=None, held_s=1) is None
    assert judge(owner, beat=None, held_s=None) is None


def test_without_proc_this_host_is_judged_like_another() -> None:
    owner = Owner("here", 200, "7000", "inst")
    verdict = gone_reason(
        owner, me=ME, process=None, beat=beat(1), held_since=NOW, now=NOW, sees_processes=False
    )
    assert verdict is None
    verdict = gone_reason(
        owner, me=ME, process=None, beat=beat(60), held_since=NOW, now=NOW, sees_processes=False
    )
    assert verdict == "silent"


hosts = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,30}", fullmatch=True)


@given(
    hosts,
    st.integers(1, 2**22),
    st.one_of(st.none(), st.integers(0, 2**40).map(str)),
    st.text("0123456789abcdef", min_size=1, max_size=16),
)
def test_an_owner_token_names_the_same_owner_back(
    host: str, pid: int, start: str | None, instance: str
) -> None:
    owner = Owner(host, pid, start, instance)
    assert parse_owner(owner.token) == owner


@pytest.mark.parametrize(
    ("token", "owner"),
    [
        ("vm:42:abc", Owner("vm", 42, None, None)),  # a worker of an older gated
        ("vm:42:1:2", Owner("vm", 42, "1", "2")),
        ("test", None),
        ("gated:x:1:2", None),
        ("", None),
    ],
)
def test_tokens_that_name_no_process_are_left_to_the_lease(token: str, owner: Owner | None) -> None:
    assert parse_owner(token) == owner


# -- real processes and rows ----------------------------------------------------------------


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def token_of(pid: int, start: str | None = None) -> str:
    here = liveness.me()
    return Owner(here.host, pid, start or liveness.process_start(pid), f"i{pid}").token


def zombie_of(proc: subprocess.Popen[bytes]) -> None:
    """Kill a child and leave it unreaped (a zombie) until the fixture waits for it."""
    os.kill(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (state := liveness.read_process(proc.pid)) is not None and state.state != "Z":
        assert time.monotonic() < deadline, "the child never became a zombie"
        time.sleep(0.01)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_owner_gone_on_real_processes(
    db: sqlite3.Connection, child: subprocess.Popen[bytes]
) -> None:
    live = token_of(child.pid)
    assert owner_gone(db, live) is None
    assert owner_gone(db, liveness.me().token) is None
    assert owner_gone(db, token_of(child.pid, start="1")) == "pid reused"
    assert owner_gone(db, token_of(dead_pid(), start="1")) == "dead"
    zombie_of(child)
    assert liveness.process_start(child.pid) is None
    assert owner_gone(db, live) == "zombie"


def other_host_row(db: sqlite3.Connection, name: str, instance: str, age_s: float) -> None:
    at = store.iso(store.utcnow() - timedelta(seconds=age_s))
    db.execute(
        "INSERT INTO daemons (name, pid, host, pid_start, instance, started_at, heartbeat_at) "
        "VALUES (?, 7, 'elsewhere', '1', ?, ?, ?)",
        (name, instance, at, at),
    )


def test_owner_gone_on_another_host_reads_the_heartbeat_row(db: sqlite3.Connection) -> None:
    other_host_row(db, "gated", "fresh", 1)
    other_host_row(db, "timed", "quiet", liveness.SILENT_AFTER_S + 5)
    assert owner_gone(db, "elsewhere:7:1:fresh") is None
    assert owner_gone(db, "elsewhere:7:1:quiet") == "silent"
    old = store.utcnow() - timedelta(seconds=liveness.SILENT_AFTER_S + 5)
    assert owner_gone(db, "elsewhere:8:1:gone", held_since=old) == "replaced"
    db.execute("UPDATE daemons SET stopped_at = heartbeat_at WHERE name = 'gated'")
    assert owner_gone(db, "elsewhere:7:1:fresh") == "stopped"


def test_a_heartbeat_records_the_identity_leases_name(db: sqlite3.Connection) -> None:
    store.heartbeat(db, "gated")
    [d] = store.list_daemons(db)
    here = liveness.me()
    assert (d.host, d.pid, d.pid_start, d.instance) == (here.host, here.pid, here.start,
                                                        here.instance)  # fmt: skip
    assert here.start == liveness.read_process(os.getpid()).start  # type: ignore[union-attr]


def status(db: sqlite3.Connection, seq: int) -> tuple[str, str | None]:
    row = db.execute("SELECT status, claimed_by FROM outbox WHERE seq = ?", (seq,)).fetchone()
    return row[0], row[1]


def test_claims_of_gone_owners_are_released_and_live_ones_kept(
    db: sqlite3.Connection, child: subprocess.Popen[bytes]
) -> None:
    owners = {
        "dead": token_of(dead_pid(), start="1"),
        "zombie": token_of(child.pid),
        "reused": token_of(os.getpid(), start="1"),
        "live": liveness.me().token,
        "unjudged": "a-test-claimer",
    }
    seqs = {}
    for name, token in owners.items():
        seqs[name] = store.store_outbound(db, "web:x", f"reply {name}")
        [item] = store.claim_outbound(db, token, limit=1)
        assert item.seq == seqs[name]
    zombie_of(child)
    released = release_gone_claims(db)
    assert sorted((r.owner, r.reason, r.rows) for r in released) == sorted(
        [
            (owners["dead"], "dead", 1),
            (owners["zombie"], "zombie", 1),
            (owners["reused"], "pid reused", 1),
        ]
    )
    for name in ("dead", "zombie", "reused"):
        assert status(db, seqs[name]) == ("pending", None)
    assert status(db, seqs["live"]) == ("sending", owners["live"])
    assert status(db, seqs["unjudged"]) == ("sending", "a-test-claimer")
    # Released rows are due at once; the next claim takes them (and only them).
    again = store.claim_outbound(db, liveness.me().token)
    assert sorted(i.seq for i in again) == sorted(seqs[n] for n in ("dead", "zombie", "reused"))
    # With every owner alive the look writes nothing (no commit to wake the daemon's loops).
    before = local_commit_count()
    assert release_gone_claims(db) == []
    assert local_commit_count() == before
