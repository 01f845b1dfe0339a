"""In-flight records of agent runs (router_state keys `bus.agent_inflight` / `task_inflight`):
the gated that owns each, and taking over one whose owner is gone (store.liveness) — its agent
killed, its run closed — so the batch runs again here; a live owner's record is left alone."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any, Final

import store
from store import liveness

from gated.agent import kill_orphan

log = logging.getLogger(__name__)

# A work key held by another live gated is looked at again this often.
RECHECK_S: Final = 2.0
# Written by a gated from before records named their owner: that gated is the one restarted.
NO_OWNER: Final = "no owner recorded"


def new_record(last_seq: int, system_messages: list[dict[str, Any]], run_id: int) -> str:
    """The record of a run this process starts (the agent's pid is added once it runs)."""
    return json.dumps(
        {
            "last_seq": last_seq,
            "system_messages": system_messages,
            "run_id": run_id,
            "owner": liveness.me().token,
            "since": store.now_iso(),
        }
    )


def gone_reason(conn: sqlite3.Connection, record: dict[str, Any]) -> str | None:
    """Why the gated that owns a record is gone; None while it may be alive (or is us)."""
    owner = record.get("owner")
    if not isinstance(owner, str):
        return NO_OWNER
    since = record.get("since")
    held_since = store.parse_iso(since) if isinstance(since, str) else None
    return liveness.owner_gone(conn, owner, held_since=held_since)


def take_over(conn: sqlite3.Connection, key: str, raw: str, reason: str) -> bool:
    """Make a gone owner's record ours (compare-and-set on its text), close its run and kill
    the agent it left running. False when the record changed meanwhile (someone else took it)."""
    record = json.loads(raw)
    mine = {k: v for k, v in record.items() if k not in ("pid", "pid_start")}
    mine.update(owner=liveness.me().token, since=store.now_iso())
    with store.tx(conn):
        if not store.cas_state(conn, key, raw, json.dumps(mine)):
            return False
        run_id = record.get("run_id")
        if isinstance(run_id, int):
            store.close_abandoned_run(conn, run_id, f"gated gone ({reason})")
    killed = "pid" in record and kill_orphan(int(record["pid"]), record.get("pid_start"))
    log.warning(
        "took over an agent run key=%s owner=%s reason=%s agent_killed=%s",
        key,
        record.get("owner"),
        reason,
        killed,
    )
    return True


def held_elsewhere(conn: sqlite3.Connection, key: str) -> bool:
    """True while another live gated owns the key's record (its batch is running there); a
    record of a gone owner is taken over first, so its batch runs here."""
    raw = store.get_state(conn, key)
    if raw is None:
        return False
    record = json.loads(raw)
    if record.get("owner") == liveness.me().token:
        return False
    reason = gone_reason(conn, record)
    if reason is None:
        return True
    return not take_over(conn, key, raw, reason)


def take_over_all(conn: sqlite3.Connection, prefixes: tuple[str, ...]) -> set[int]:
    """At start: take over every record of a gone owner; the run ids of live owners' records
    (runs that are not abandoned)."""
    live: set[int] = set()
    for prefix in prefixes:
        for key, raw in store.states_with_prefix(conn, prefix).items():
            record = json.loads(raw)
            reason = gone_reason(conn, record)
            if reason is not None:
                take_over(conn, key, raw, reason)
            elif isinstance(record.get("run_id"), int):
                live.add(int(record["run_id"]))
    return live
