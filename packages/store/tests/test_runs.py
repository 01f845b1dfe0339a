"""The run records in session_log (store.runs): opened with everything a resume needs, one open
run per work key, the agent's pid and the end recorded only by the owner, a gone owner's run
taken over by compare-and-set, and the log pages read by the status pages."""

from __future__ import annotations

import sqlite3

import pytest
import store
from store import CarriedMessage, NewRun, WorkKey, liveness

OTHER = "elsewhere:4242:77:other-gated"  # another gated's liveness token
CARRIED: tuple[CarriedMessage, ...] = (
    {"origin": "timed", "event": "task_missed", "body": "missed 2", "created_at": "2026-01-01Z"},
)


def new_run(key: WorkKey | None = None, **kw: object) -> NewRun:
    fields: dict[str, object] = {
        "key": key or WorkKey.chat("web:demo"),
        "group_folder": "demo",
        "topic": "",
        "chat_jid": "web:demo",
        "batch_end": 7,
        "system_messages": CARRIED,
        "sandbox": "bwrap",
    }
    fields.update(kw)
    return NewRun(**fields)  # type: ignore[arg-type]


def test_a_run_is_in_flight_from_open_to_end(db: sqlite3.Connection) -> None:
    key = WorkKey.chat("web:demo")
    run_id = store.open_run(db, new_run(key, session_id="s-1"))
    assert run_id is not None
    open_run = store.open_run_of(db, key)
    assert open_run is not None
    assert (open_run.id, open_run.batch_end, open_run.system_messages) == (run_id, 7, CARRIED)
    assert (open_run.owner, open_run.sandbox, open_run.launched) == (
        liveness.me().token,
        "bwrap",
        True,
    )
    [running] = store.session_runs(db, running_only=True)
    assert (running.id, running.work_key, running.ended_at) == (run_id, "chat:web:demo", None)

    assert store.end_run(db, run_id, "memory", error="over 64 MB", limit_hit="memory")
    assert store.open_run_of(db, key) is None
    [done] = store.session_runs(db, group_folder="demo")
    assert (done.result, done.error, done.limit_hit, done.session_id) == (
        "memory",
        "over 64 MB",
        "memory",
        "s-1",
    )
    assert done.ended_at is not None
    assert store.session_runs(db, running_only=True) == []
    assert [r.id for r in store.session_runs(db, errors_only=True)] == [run_id]


def test_a_work_key_has_one_open_run_at_a_time(db: sqlite3.Connection) -> None:
    key = WorkKey.task("demo", "daily:report")
    first = store.open_run(db, new_run(key))
    assert first is not None
    assert store.open_run(db, new_run(key), owner=OTHER) is None
    assert store.open_run(db, new_run(WorkKey.chat("web:demo"))) is not None
    store.end_run(db, first, "ok")
    second = store.open_run(db, new_run(key, batch_end=9))
    open_run = store.open_run_of(db, key)
    assert open_run is not None
    assert (open_run.id, open_run.key, open_run.batch_end) == (second, key, 9)


def test_only_the_owner_records_the_pid_and_the_end(db: sqlite3.Connection) -> None:
    key = WorkKey.chat("web:demo")
    run_id = store.open_run(db, new_run(key), owner=OTHER)
    assert run_id is not None
    assert not store.note_pid(db, run_id, 123, "456")
    assert not store.end_run(db, run_id, "ok")
    assert store.note_pid(db, run_id, 123, "456", owner=OTHER)
    open_run = store.open_run_of(db, key)
    assert open_run is not None
    assert (open_run.pid, open_run.pid_start) == (123, "456")
    assert store.end_run(db, run_id, "ok", owner=OTHER)
    assert not store.note_pid(db, run_id, 124, "457", owner=OTHER)  # closed: too late


def test_a_gone_owners_launched_run_is_closed_and_its_batch_owed_here(
    db: sqlite3.Connection,
) -> None:
    key = WorkKey.chat("web:demo")
    old = store.open_run(db, new_run(key, session_id="s-1"), owner=OTHER)
    assert old is not None
    store.note_pid(db, old, 123, "456", owner=OTHER)
    seen = store.open_run_of(db, key)
    assert seen is not None
    mine = store.take_over_run(db, seen, "gated gone (dead)")
    assert mine is not None
    assert mine.id != old
    assert (mine.key, mine.batch_end, mine.system_messages) == (key, 7, CARRIED)
    assert (mine.owner, mine.pid, mine.launched) == (liveness.me().token, None, False)
    assert store.open_run_of(db, key) == mine
    closed = [r for r in store.session_runs(db) if r.id == old]
    assert [(r.result, r.error) for r in closed] == [("killed", "gated gone (dead)")]
    # Whoever saw the run before the take-over cannot take it again.
    assert store.take_over_run(db, seen, "gated gone (dead)", owner=OTHER) is None
    assert store.open_run_of(db, key) == mine


def test_a_run_owed_a_rerun_changes_owner_and_is_launched_once(db: sqlite3.Connection) -> None:
    key = WorkKey.chat("web:demo")
    owed = store.open_run(db, new_run(key, sandbox=None), owner=OTHER)
    seen = store.open_run_of(db, key)
    assert seen is not None
    assert not seen.launched
    mine = store.take_over_run(db, seen, "gated gone (stopped)")
    assert mine is not None
    assert (mine.id, mine.owner) == (owed, liveness.me().token)
    assert store.session_runs(db, running_only=True)[0].result is None  # not closed
    assert store.take_over_run(db, seen, "again", owner=OTHER) is None  # owner_since moved on
    more = (*CARRIED, {"origin": "gated", "event": "x", "body": "y", "created_at": "z"})
    assert store.launch_owed_run(db, mine, sandbox="none", session_id="s-2", system_messages=more)
    assert not store.launch_owed_run(db, mine, sandbox="none", session_id=None, system_messages=())
    launched = store.open_run_of(db, key)
    assert launched is not None
    assert (launched.sandbox, launched.system_messages) == ("none", more)
    assert store.session_runs(db)[0].session_id == "s-2"


def test_rows_without_a_work_key_are_closed_as_killed(db: sqlite3.Connection) -> None:
    with store.tx(db):
        db.execute(
            "INSERT INTO session_log (group_folder, topic, started_at) VALUES ('old', '', 'x')"
        )
    keyed = store.open_run(db, new_run())
    assert store.close_runs_without_key(db, "gateway restarted") == 1
    runs = {r.group_folder: r for r in store.session_runs(db)}
    assert (runs["old"].result, runs["old"].error) == ("killed", "gateway restarted")
    assert runs["demo"].id == keyed
    assert runs["demo"].ended_at is None
    assert store.close_runs_without_key(db, "gateway restarted") == 0


def test_session_runs_page_newest_first(db: sqlite3.Connection) -> None:
    ids = [
        store.open_run(db, new_run(WorkKey.chat(f"web:c{i}"), group_folder=f"g{i % 2}"))
        for i in range(5)
    ]
    assert [r.id for r in store.session_runs(db)] == ids[::-1]
    assert [r.id for r in store.session_runs(db, before_id=ids[3], limit=2)] == [ids[2], ids[1]]
    assert [r.id for r in store.session_runs(db, folders=["g1"])] == [ids[3], ids[1]]
    assert ids[0] is not None
    store.end_run(db, ids[0], "ok")
    assert ids[0] not in [r.id for r in store.session_runs(db, errors_only=True)]


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"group_folder": "../x"}, "group_folder"),
        ({"topic": "\x00"}, "topic"),
        ({"chat_jid": "not a jid"}, "chat_jid"),
        ({"sandbox": ""}, "sandbox"),
    ],
)
def test_a_bad_run_is_refused(db: sqlite3.Connection, kw: dict[str, object], field: str) -> None:
    with pytest.raises(store.InvalidInput) as err:
        store.open_run(db, new_run(**kw))
    assert err.value.field == field
    assert store.session_runs(db) == []


def test_a_run_ends_with_a_result_and_a_known_limit(db: sqlite3.Connection) -> None:
    run_id = store.open_run(db, new_run())
    assert run_id is not None
    with pytest.raises(store.InvalidInput, match="result"):
        store.end_run(db, run_id, "")
    with pytest.raises(store.InvalidInput, match="limit_hit"):
        store.end_run(db, run_id, "error", limit_hit="bandwidth")  # type: ignore[arg-type]
    [still_open] = store.session_runs(db, running_only=True)
    assert still_open.id == run_id
