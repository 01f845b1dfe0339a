"""Firing, misfire policies and the public API, driven with a fixed clock on a real db file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import store
from timed import api
from timed.firing import CATCHUP_LIMIT, earliest_next_run, fire_due
from timed.migrations import MIGRATIONS

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    c = store.open(tmp_path / "messages.db")
    store.migrate_service(c, "timed", MIGRATIONS)
    store.register_group(c, "web:demo", "demo")
    return c


def statuses(conn: sqlite3.Connection, task_id: int) -> list[tuple[str, str]]:
    return [(r.slot, r.status) for r in reversed(api.runs(conn, task_id, limit=10_000))]


def test_schema_and_migration_rows(conn: sqlite3.Connection) -> None:
    cols = {r["name"] for r in conn.execute("PRAGMA table_info(scheduled_tasks)")}
    assert {"id", "owner", "chat_jid", "group_folder", "prompt", "kind", "cron"} <= cols
    assert {"interval_s"} <= cols
    assert {"run_at", "tz", "misfire", "misfire_grace_s", "context", "status", "next_run"} <= cols
    assert {"last_run", "created_at"} <= cols
    run_cols = {r["name"] for r in conn.execute("PRAGMA table_info(task_runs)")}
    assert run_cols == {
        "id",
        "task_id",
        "slot",
        "fired_at",
        "status",
        "message_seq",
        "fired_by",
        "note",
    }
    rows = conn.execute(
        "SELECT version, name FROM migrations WHERE service = 'timed' ORDER BY version"
    ).fetchall()
    assert [tuple(r) for r in rows] == [(1, "m001_scheduled_tasks")]
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM scheduled_tasks WHERE status = 'active' "
        "AND next_run <= ? ORDER BY next_run, id LIMIT 10",
        ("2026",),
    ).fetchall()
    assert "scheduled_tasks_due" in " ".join(str(r["detail"]) for r in plan)


def test_due_task_posts_one_message_with_the_documented_fields(conn: sqlite3.Connection) -> None:
    task = api.add_task(
        conn, chat_jid="web:demo", prompt="daily digest", cron="0 9 * * *", isolated=True, now=T0
    )
    assert task.next_run == "2026-01-05T09:00:00.000Z"
    assert fire_due(conn, T0 + timedelta(minutes=59), fired_by="t") == 0
    now = T0 + timedelta(hours=1, milliseconds=250)
    assert fire_due(conn, now, fired_by="t") == 1
    assert fire_due(conn, now, fired_by="t") == 0
    msg = store.find_message(conn, "web:demo", f"task:{task.id}:2026-01-05T09:00:00.000Z")
    assert msg is not None
    assert (msg.sender, msg.source, msg.verb, msg.group_folder, msg.topic, msg.content) == (
        "scheduler",
        "timed",
        "task",
        "demo",
        f"task:{task.id}",
        "daily digest",
    )
    [run] = api.runs(conn, task.id)
    assert (run.status, run.message_seq, run.fired_by) == ("fired", msg.seq, "t")
    after = api.get_task(conn, task.id)
    assert after is not None
    assert after.next_run == "2026-01-06T09:00:00.000Z"
    assert after.last_run == "2026-01-05T09:00:00.000Z"


def test_group_context_has_no_topic(conn: sqlite3.Connection) -> None:
    task = api.add_task(conn, chat_jid="web:demo", prompt="p", every_s=60, now=T0)
    fire_due(conn, T0 + timedelta(seconds=60), fired_by="t")
    [run] = api.runs(conn, task.id)
    assert run.message_seq is not None
    msg = store.get_message(conn, run.message_seq)
    assert msg is not None
    assert msg.topic == ""


def test_one_shot_fires_once_and_completes(conn: sqlite3.Connection) -> None:
    task = api.add_task(conn, chat_jid="web:demo", prompt="p", at=T0 + timedelta(minutes=5), now=T0)
    assert fire_due(conn, T0 + timedelta(minutes=5), fired_by="t") == 1
    done = api.get_task(conn, task.id)
    assert done is not None
    assert (done.status, done.next_run) == ("completed", None)
    assert fire_due(conn, T0 + timedelta(days=1), fired_by="t") == 0
    assert earliest_next_run(conn) is None


def test_downtime_run_once_fires_latest_and_records_the_rest_missed(
    conn: sqlite3.Connection,
) -> None:
    task = api.add_task(conn, chat_jid="web:demo", prompt="p", cron="0 * * * *", now=T0)
    # Down from 08:00 to 12:30: slots 09, 10, 11, 12 are all more than 60 s late.
    assert fire_due(conn, T0 + timedelta(hours=4, minutes=30), fired_by="t") == 1
    assert statuses(conn, task.id) == [
        ("2026-01-05T09:00:00.000Z", "missed"),
        ("2026-01-05T10:00:00.000Z", "missed"),
        ("2026-01-05T11:00:00.000Z", "missed"),
        ("2026-01-05T12:00:00.000Z", "fired"),
    ]
    after = api.get_task(conn, task.id)
    assert after is not None
    assert after.next_run == "2026-01-05T13:00:00.000Z"


def test_downtime_skip_records_all_skipped_and_moves_on(conn: sqlite3.Connection) -> None:
    task = api.add_task(
        conn, chat_jid="web:demo", prompt="p", cron="0 * * * *", misfire="skip", now=T0
    )
    assert fire_due(conn, T0 + timedelta(hours=3, minutes=30), fired_by="t") == 0
    assert statuses(conn, task.id) == [
        ("2026-01-05T09:00:00.000Z", "skipped"),
        ("2026-01-05T10:00:00.000Z", "skipped"),
        ("2026-01-05T11:00:00.000Z", "skipped"),
    ]
    assert store.latest_seq(conn) == 0
    after = api.get_task(conn, task.id)
    assert after is not None
    assert after.next_run == "2026-01-05T12:00:00.000Z"


def test_late_within_grace_still_fires(conn: sqlite3.Connection) -> None:
    task = api.add_task(
        conn, chat_jid="web:demo", prompt="p", cron="0 * * * *", misfire="skip", now=T0
    )
    assert fire_due(conn, T0 + timedelta(hours=1, seconds=59), fired_by="t") == 1
    assert statuses(conn, task.id) == [("2026-01-05T09:00:00.000Z", "fired")]


def test_run_once_with_a_fresh_slot_marks_older_ones_missed(conn: sqlite3.Connection) -> None:
    task = api.add_task(conn, chat_jid="web:demo", prompt="p", every_s=30, now=T0)
    # Slots at +30 ... +180 s; at +190 s with 60 s grace: +30..+120 late, +150, +180 fresh.
    assert fire_due(conn, T0 + timedelta(seconds=190), fired_by="t") == 2
    got = [s for _, s in statuses(conn, task.id)]
    assert got == ["missed"] * 4 + ["fired"] * 2


def test_catch_up_is_capped_with_a_note(conn: sqlite3.Connection) -> None:
    task = api.add_task(conn, chat_jid="web:demo", prompt="p", every_s=10, now=T0)
    fire_due(conn, T0 + timedelta(days=2), fired_by="t")
    rows = api.runs(conn, task.id, limit=100_000)
    # 1000 itemised late slots + one row for the latest late slot noting the gap, then the
    # 7 slots within the 60 s grace (which fire, so the late ones are all `missed`).
    assert len(rows) == CATCHUP_LIMIT + 1 + 7
    assert [r.status for r in rows[:7]] == ["fired"] * 7
    gap = rows[7]
    assert gap.status == "missed"
    assert "not itemised" in gap.note
    assert gap.slot == store.iso(T0 + timedelta(days=2) - timedelta(seconds=70))


def test_one_shot_missed_with_skip_is_recorded_and_completed(conn: sqlite3.Connection) -> None:
    task = api.add_task(
        conn,
        chat_jid="web:demo",
        prompt="p",
        at=T0 + timedelta(minutes=1),
        misfire="skip",
        now=T0,
    )
    assert fire_due(conn, T0 + timedelta(hours=1), fired_by="t") == 0
    assert [s for _, s in statuses(conn, task.id)] == ["skipped"]
    done = api.get_task(conn, task.id)
    assert done is not None
    assert done.status == "completed"


def test_pause_resume_remove_and_run_now(conn: sqlite3.Connection) -> None:
    task = api.add_task(conn, chat_jid="web:demo", prompt="p", cron="*/5 * * * *", now=T0)
    paused = api.pause(conn, task.id)
    assert (paused.status, paused.next_run) == ("paused", None)
    assert fire_due(conn, T0 + timedelta(hours=1), fired_by="t") == 0
    resumed = api.resume(conn, task.id, now=T0 + timedelta(hours=1, minutes=2))
    assert (resumed.status, resumed.next_run) == ("active", "2026-01-05T09:05:00.000Z")
    extra = api.run_now(conn, task.id, now=T0 + timedelta(hours=1, minutes=3))
    again = api.run_now(conn, task.id, now=T0 + timedelta(hours=1, minutes=3))
    assert extra.slot != again.slot
    assert extra.note == "run-now"
    assert len({extra.message_seq, again.message_seq}) == 2
    api.remove(conn, task.id)
    assert api.get_task(conn, task.id) is None
    assert api.runs(conn, task.id) == []
    with pytest.raises(store.NotFound, match=f"no task with id {task.id}"):
        api.remove(conn, task.id)


def test_list_tasks_filters_by_folder_and_status(conn: sqlite3.Connection) -> None:
    store.register_group(conn, "web:other", "other")
    a = api.add_task(conn, chat_jid="web:demo", prompt="a", every_s=60, now=T0)
    b = api.add_task(conn, chat_jid="web:other", prompt="b", every_s=60, now=T0)
    api.pause(conn, b.id)
    assert [t.id for t in api.list_tasks(conn)] == [a.id, b.id]
    assert [t.id for t in api.list_tasks(conn, folders=["other"])] == [b.id]
    assert [t.id for t in api.list_tasks(conn, status="active")] == [a.id]
    assert [t.id for t in api.list_tasks(conn, after_id=a.id)] == [b.id]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chat_jid": "web:nobody", "every_s": 60}, "chat_jid: web:nobody is not a registered"),
        ({"chat_jid": "bad jid", "every_s": 60}, "chat_jid: malformed jid"),
        ({"every_s": 5}, "every: 5s is shorter than the minimum 10s"),
        ({"cron": "0 25 * * *"}, "cron: bad hour field '25'"),
        ({"cron": "0 9 * * *", "tz": "Nowhere/Land"}, "tz: unknown timezone 'Nowhere/Land'"),
        ({"at": T0 - timedelta(seconds=1)}, "at: 2026-01-05T07:59:59.000Z is in the past"),
        ({}, "schedule: give exactly one of cron, every or at"),
        ({"cron": "* * * * *", "every_s": 60}, "schedule: give exactly one"),
        ({"every_s": 60, "misfire": "later"}, "misfire: 'later' is not one of"),
        ({"every_s": 60, "misfire_grace_s": -1}, "misfire_grace_s: -1 is not whole seconds"),
    ],
)
def test_add_task_rejects_bad_input_naming_the_field(
    conn: sqlite3.Connection, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"chat_jid": "web:demo", "prompt": "p", "now": T0, **kwargs}
    with pytest.raises(store.InvalidInput, match=message):
        api.add_task(conn, **args)  # type: ignore[arg-type]


def test_naive_at_is_read_in_the_task_zone(conn: sqlite3.Connection) -> None:
    task = api.add_task(
        conn,
        chat_jid="web:demo",
        prompt="p",
        at=datetime(2026, 7, 1, 9, 0),
        tz="Europe/Prague",
        now=T0,
    )
    assert task.run_at == "2026-07-01T07:00:00.000Z"


def test_read_functions_work_on_a_read_only_connection(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    store.open(path).close()
    readonly = store.connect(path, readonly=True)
    # Before timed ever ran: empty answers, no attempt to migrate a read-only file.
    assert api.list_tasks(readonly) == []
    assert api.get_task(readonly, 1) is None
    assert api.runs(readonly, 1) == []
    writer = store.open(path, {"timed": MIGRATIONS})  # as timed, dashd or the CLI open it
    store.register_group(writer, "web:demo", "demo")
    task = api.add_task(writer, chat_jid="web:demo", prompt="p", every_s=60, now=T0)
    api.run_now(writer, task.id, now=T0)
    assert [t.id for t in api.list_tasks(readonly)] == [task.id]
    assert api.get_task(readonly, task.id) == task
    assert len(api.runs(readonly, task.id)) == 1


def test_a_task_whose_slots_cannot_be_computed_is_paused_and_others_fire(
    conn: sqlite3.Connection,
) -> None:
    good = api.add_task(conn, chat_jid="web:demo", prompt="p", every_s=60, now=T0)
    bad = api.add_task(conn, chat_jid="web:demo", prompt="p", every_s=60, now=T0)
    with store.tx(conn):  # a row damaged behind the API's back
        conn.execute("UPDATE scheduled_tasks SET kind = 'cron', cron = 'x' WHERE id = ?", (bad.id,))
    assert fire_due(conn, T0 + timedelta(seconds=60), fired_by="t") == 1
    broken = api.get_task(conn, bad.id)
    assert broken is not None
    assert (broken.status, broken.next_run) == ("paused", None)
    assert len(api.runs(conn, good.id)) == 1
