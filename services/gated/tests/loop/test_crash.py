"""Crash safety and shutdown of the real gated process: kill -9 while agents run and replies are
pending, restart, and every inbound message is answered exactly once; SIGTERM exits 0."""

from __future__ import annotations

import collections
import sqlite3
from pathlib import Path

import store
from gated_loop_support import (
    agent_command,
    group_dir,
    put,
    reply_texts,
    runs,
    start_gated,
    stop_gated,
    wait_for,
)

CHATS = ("web:crash-a", "web:crash-b", "web:crash-c")


def inbound(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT content FROM messages WHERE is_from_me = 0 AND chat_jid LIKE 'web:crash-%'"
    ).fetchall()
    return [r[0] for r in rows]


def answered(conn: sqlite3.Connection) -> collections.Counter[str]:
    rows = conn.execute(
        "SELECT content FROM messages WHERE is_from_me = 1 AND chat_jid LIKE 'web:crash-%'"
    ).fetchall()
    return collections.Counter(r[0].removeprefix("echo: ") for r in rows)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def running(conn: sqlite3.Connection) -> int:
    return int(
        conn.execute(
            "SELECT COUNT(*) FROM session_log WHERE ended_at IS NULL AND group_folder != 'orphan'"
        ).fetchone()[0]
    )


def test_kill_9_mid_run_then_restart_answers_every_message_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    conn = store.open(db)
    for jid in CHATS:
        folder = jid.removeprefix("web:")
        store.register_group(
            conn,
            jid,
            folder,
            agent_config={"command": agent_command("record.py"), "env": {"AGENT_SLEEP": "0.15"}},
        )
    n = 0

    def wave(count: int) -> None:
        nonlocal n
        for _ in range(count):
            for jid in CHATS:
                n += 1
                put(conn, jid, f"{jid}#{n}", id=f"msg-{n}")

    store.register_group(
        conn, "web:orphan", "orphan", agent_config={"command": agent_command("hang.py")}
    )
    put(conn, "web:orphan", "hang around")
    wave(4)
    gated = start_gated(db)
    started = group_dir(db, "orphan") / "started.txt"
    orphan = int(wait_for(lambda: started.exists() and started.read_text().split(), what="hang")[0])
    for round_no in range(3):
        before = sum(answered(conn).values())
        # Kill while an agent is mid-batch: some of its replies stored, others not yet.
        wait_for(
            lambda b=before: running(conn) > 0 and sum(answered(conn).values()) > b,
            what=f"a run with output in round {round_no}",
        )
        gated.proc.kill()
        gated.proc.wait(10)
        assert running(conn) > 0  # the killed gated left its runs open
        wave(2)
        gated = start_gated(db)
        # The agent the killed gated left running is killed by the new one before it re-runs.
        wait_for(lambda: not alive(orphan), what="orphaned agent killed")
    expected = inbound(conn)
    wait_for(
        lambda: set(answered(conn)) >= set(expected),
        timeout=30,
        what="every inbound message answered",
    )
    wait_for(lambda: running(conn) == 0, what="runs finished")
    counts = answered(conn)
    assert sorted(counts) == sorted(expected)
    assert [c for c, k in counts.items() if k != 1] == []
    killed = conn.execute("SELECT COUNT(*) FROM session_log WHERE result = 'killed'").fetchone()
    assert killed[0] >= 3  # each restart closed the dead process's open runs
    assert stop_gated(gated) == 0


def test_sigterm_stops_a_busy_gated_with_exit_0_and_the_batch_is_finished_after_restart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "messages.db"
    conn = store.open(db)
    store.register_group(
        conn,
        "web:busy",
        "busy",
        agent_config={"command": agent_command("hang.py"), "env": {"REPLY_FIRST": "1"}},
    )
    put(conn, "web:busy", "long job")
    put(conn, "web:busy", "and another")
    gated = start_gated(db)
    wait_for(lambda: reply_texts(conn, "web:busy") == ["echo: long job"], what="first reply")
    assert stop_gated(gated, timeout=15) == 0
    row = runs(conn, "busy")[0]
    assert (row["result"], row["error"]) == ("killed", "stopped (shutdown)")
    assert "gated stopped" in gated.log_text()
    # The batch is owed a re-run: an open row holds it, with no agent launched for it.
    owed = store.open_run_of(conn, store.WorkKey.chat("web:busy"))
    assert owed is not None
    assert (owed.batch_end, owed.launched, owed.pid) == (row["batch_end"], False, None)
    # The interrupted batch is run again after the restart (now by the echo agent): the reply
    # already stored is not stored twice, the missing one is added.
    store.update_folder_settings(conn, "busy", {}, ["command", "env"])
    gated = start_gated(db)
    wait_for(lambda: len(reply_texts(conn, "web:busy")) >= 2, what="the rest of the batch")
    wait_for(lambda: runs(conn, "busy")[-1]["result"] == "ok", what="re-run finished")
    assert reply_texts(conn, "web:busy") == ["echo: long job", "echo: and another"]
    # The owed row became the re-run's: two rows in all, the second one answered the batch.
    assert [(r["id"], r["result"]) for r in runs(conn, "busy")] == [
        (row["id"], "killed"),
        (owed.id, "ok"),
    ]
    assert stop_gated(gated) == 0
