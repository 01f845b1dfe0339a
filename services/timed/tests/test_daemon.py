"""The real `timed` process: two racing processes, kill -9 mid-firing, downtime, and
pause/resume/remove while it runs."""

from __future__ import annotations

import signal
import sqlite3
from datetime import timedelta

import store
from timed import api
from timed_harness import StartTimed, freeze_after, stop, wait_for

RACE_TASKS = 12
KILL_TASKS = 1500


def run_count(conn: sqlite3.Connection, task_id: int | None = None) -> int:
    if task_id is None:
        return int(conn.execute("SELECT COUNT(*) FROM task_runs").fetchone()[0])
    return int(
        conn.execute("SELECT COUNT(*) FROM task_runs WHERE task_id = ?", (task_id,)).fetchone()[0]
    )


def task_message_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM messages WHERE verb = 'task'").fetchone()[0])


def test_two_processes_fire_every_slot_exactly_once(
    conn: sqlite3.Connection, start_timed: StartTimed
) -> None:
    tasks = [
        api.add_task(conn, chat_jid="web:demo", prompt=f"tick {i}", cron="* * * * * *")
        for i in range(RACE_TASKS)
    ]
    first = start_timed("--batch-size", "3")
    second = start_timed("--batch-size", "3")
    wait_for(lambda: all(run_count(conn, t.id) >= 8 for t in tasks), timeout=30)
    assert stop(first) == 0
    assert stop(second) == 0
    fired_by: set[str] = set()
    for task in tasks:
        got = list(reversed(api.runs(conn, task.id, limit=1000)))
        slots = [store.parse_iso(r.slot) for r in got]
        # Every second from the first slot on, none twice, none missing, all fired.
        assert slots[0] == store.parse_iso(task.next_run or "")
        assert slots == [slots[0] + timedelta(seconds=i) for i in range(len(slots))]
        assert {r.status for r in got} == {"fired"}
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM messages WHERE id LIKE ? ORDER BY seq", (f"task:{task.id}:%",)
            )
        ]
        assert sorted(ids) == sorted(f"task:{task.id}:{r.slot}" for r in got)
        fired_by |= {r.fired_by for r in got}
    assert len(fired_by) == 2, f"both processes should have fired some slots: {fired_by}"


def test_kill_9_mid_firing_then_restart_loses_and_doubles_nothing(
    conn: sqlite3.Connection, start_timed: StartTimed
) -> None:
    due = store.utcnow() - timedelta(seconds=3601)
    for i in range(KILL_TASKS):
        api.add_task(conn, chat_jid="web:demo", prompt=f"p{i}", every_s=3600, now=due)
    proc = start_timed("--batch-size", "10")
    freeze_after(proc, lambda: run_count(conn), 100)
    proc.send_signal(signal.SIGKILL)  # stopped, perhaps inside a batch's transaction
    proc.wait()
    at_kill = run_count(conn)
    assert at_kill < KILL_TASKS, "the kill should land in the middle of firing"
    start_timed()
    wait_for(lambda: run_count(conn) >= KILL_TASKS, timeout=30)
    assert run_count(conn) == KILL_TASKS
    assert task_message_count(conn) == KILL_TASKS
    # Every run row points at its own message; every task fired exactly once.
    orphans = conn.execute(
        "SELECT COUNT(*) FROM task_runs r LEFT JOIN messages m ON m.seq = r.message_seq "
        "WHERE m.seq IS NULL OR m.id != 'task:' || r.task_id || ':' || r.slot"
    ).fetchone()[0]
    assert orphans == 0
    per_task = conn.execute(
        "SELECT MIN(n), MAX(n) FROM (SELECT COUNT(*) AS n FROM task_runs GROUP BY task_id)"
    ).fetchone()
    assert tuple(per_task) == (1, 1)


def test_sigterm_during_a_burst_stops_after_the_batch_in_hand(
    conn: sqlite3.Connection, start_timed: StartTimed
) -> None:
    due = store.utcnow() - timedelta(seconds=3601)
    for i in range(KILL_TASKS):
        api.add_task(conn, chat_jid="web:demo", prompt=f"p{i}", every_s=3600, now=due)
    proc = start_timed("--batch-size", "10")
    freeze_after(proc, lambda: run_count(conn), 100)
    proc.send_signal(signal.SIGTERM)  # pending until it runs again
    proc.send_signal(signal.SIGCONT)
    assert proc.wait(timeout=15) == 0
    assert run_count(conn) < KILL_TASKS, "SIGTERM should not wait for the whole burst"
    assert run_count(conn) == task_message_count(conn)
    start_timed()
    wait_for(lambda: run_count(conn) >= KILL_TASKS, timeout=30)
    assert run_count(conn) == task_message_count(conn) == KILL_TASKS


def test_slots_passed_while_timed_was_down_follow_the_misfire_policy(
    conn: sqlite3.Connection, start_timed: StartTimed
) -> None:
    # Tasks created ten minutes ago whose slots passed with no timed running; grace 0 s.
    then = store.utcnow() - timedelta(minutes=10)
    once = api.add_task(
        conn, chat_jid="web:demo", prompt="r", cron="* * * * *", misfire_grace_s=0, now=then
    )
    skip = api.add_task(
        conn,
        chat_jid="web:demo",
        prompt="s",
        cron="* * * * *",
        misfire="skip",
        misfire_grace_s=0,
        now=then,
    )
    start_timed()
    wait_for(lambda: run_count(conn, once.id) >= 10 and run_count(conn, skip.id) >= 10)
    once_runs = list(reversed(api.runs(conn, once.id)))
    assert [r.status for r in once_runs] == ["missed"] * (len(once_runs) - 1) + ["fired"]
    assert {r.status for r in api.runs(conn, skip.id)} == {"skipped"}
    messages = conn.execute("SELECT id FROM messages WHERE verb = 'task'").fetchall()
    assert [m[0] for m in messages] == [f"task:{once.id}:{once_runs[-1].slot}"]
    after = api.get_task(conn, skip.id)
    assert after is not None
    assert store.parse_iso(after.next_run or "") > store.parse_iso(once_runs[-1].slot)


def test_pause_resume_and_remove_while_running(
    conn: sqlite3.Connection, start_timed: StartTimed
) -> None:
    start_timed()
    task = api.add_task(conn, chat_jid="web:demo", prompt="tick", cron="* * * * * *")
    wait_for(lambda: run_count(conn, task.id) >= 2)

    def sentinel_fired() -> None:
        # A one-shot 1.5 s out: when it has fired, an every-second task would have too.
        mark = api.add_task(
            conn,
            chat_jid="web:demo",
            prompt="sentinel",
            at=store.utcnow() + timedelta(seconds=1.5),
        )
        wait_for(lambda: run_count(conn, mark.id) == 1)

    api.pause(conn, task.id)
    paused_at = run_count(conn, task.id)
    sentinel_fired()
    assert run_count(conn, task.id) == paused_at

    api.resume(conn, task.id)
    wait_for(lambda: run_count(conn, task.id) >= paused_at + 2)

    api.remove(conn, task.id)
    last_seq = store.latest_seq(conn)
    sentinel_fired()
    later = conn.execute(
        "SELECT COUNT(*) FROM messages WHERE seq > ? AND id LIKE ?", (last_seq, f"task:{task.id}:%")
    ).fetchone()[0]
    assert later == 0
    assert api.get_task(conn, task.id) is None
