"""Runs of other gated processes on the same database: the open session_log row of a work key
names the gated that owns it (store.runs); a live owner's run is left alone, and one whose owner
is gone (store.liveness) is taken over — its agent killed, its row closed, its batch owed a
re-run here."""

from __future__ import annotations

import logging
import sqlite3
from typing import Final

import store
from store import OpenRun, WorkKey, liveness

from gated.agent import kill_orphan

log = logging.getLogger(__name__)

# A work key held by another live gated is looked at again this often.
RECHECK_S: Final = 2.0
# Written by a gated from before records named their owner: that gated is the one restarted.
NO_OWNER: Final = "no owner recorded"
# The end of a run of this gated that stopped running but is still open (recording it failed).
UNRECORDED: Final = "run abandoned: its end could not be recorded"


def gone_reason(conn: sqlite3.Connection, run: OpenRun) -> str | None:
    """Why the gated that owns a run is gone; None while it may be alive (or is us)."""
    if run.owner is None:
        return NO_OWNER
    since = store.parse_iso(run.owner_since) if run.owner_since else None
    return liveness.owner_gone(conn, run.owner, held_since=since)


def take_over(conn: sqlite3.Connection, run: OpenRun, error: str) -> bool:
    """Make a run ours (store.take_over_run; a launched one is closed with `error`) and kill the
    agent it left running. False when the run changed meanwhile (someone else took it, or its
    owner ended it)."""
    if store.take_over_run(conn, run, error) is None:
        return False
    killed = run.pid is not None and kill_orphan(run.pid, run.pid_start)
    log.warning(
        "took over an agent run key=%s run=%d owner=%s error=%s agent_killed=%s",
        run.key,
        run.id,
        run.owner,
        error,
        killed,
    )
    return True


def gone_error(reason: str) -> str:
    """The error of a run closed because its gated is gone."""
    return f"gated gone ({reason})"


def held_elsewhere(conn: sqlite3.Connection, key: WorkKey) -> bool:
    """True while another live gated owns the key's open run (its batch is running there); a
    run of a gone owner is taken over first, so its batch runs here. For a key this gated is
    not running: a launched run of ours still open is one whose end could not be recorded, and
    is taken over like a gone owner's."""
    run = store.open_run_of(conn, key)
    if run is None:
        return False
    if run.owner == liveness.me().token:
        if run.launched:
            take_over(conn, run, UNRECORDED)
        return False
    reason = gone_reason(conn, run)
    if reason is None:
        return True
    return not take_over(conn, run, gone_error(reason))


def take_over_all(conn: sqlite3.Connection) -> int:
    """At start: take over every open run of a gone owner (a live owner's is left to it);
    returns how many were taken."""
    taken = 0
    for run in store.open_runs(conn):
        reason = gone_reason(conn, run)
        if reason is not None and take_over(conn, run, gone_error(reason)):
            taken += 1
    return taken
