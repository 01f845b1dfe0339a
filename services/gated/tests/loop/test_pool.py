"""The agent pool hands each run's end to the gateway through a queue: by the time the gateway
is woken, the outcome is committed (the row closed, the cursor moved), the key no longer runs,
and its Finished waits in the queue, once."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import store
from gated.agent import RunSpec
from gated.queue import AgentPool, Finished
from gated_loop_support import put, reply_texts


def test_a_finished_run_is_recorded_then_queued_for_the_gateway_which_is_woken(
    tmp_path: Path,
) -> None:
    db = tmp_path / "messages.db"
    conn = store.open(db)
    store.register_group(conn, "web:pool", "pool")
    seq = put(conn, "web:pool", "hi", id="hi-1")
    key = store.WorkKey.chat("web:pool")
    store.set_state(conn, key.cursor_key, str(seq - 1))
    run_id = store.open_run(conn, store.NewRun(key, "pool", "", "web:pool", seq, sandbox="none"))
    assert run_id is not None
    seen_at_wake: list[tuple[bool, str | None, int]] = []
    woken = threading.Event()

    def wake() -> None:
        # What the gateway would see on waking: the key idle, its cursor moved, its Finished
        # queued (read on a connection of the waking thread, as the gateway has its own).
        mine = store.connect(db)
        try:
            cursor = store.get_state(mine, key.cursor_key)
        finally:
            mine.close()
        seen_at_wake.append((pool.is_running(key), cursor, pool.finished.qsize()))
        woken.set()

    pool = AgentPool(str(db), 2, wake=wake)
    (tmp_path / "pool").mkdir()
    pool.start(
        RunSpec(
            key=key,
            folder="pool",
            topic="",
            chat_jid="web:pool",
            argv=[sys.executable, "-m", "gated.agents.echo"],
            cwd=tmp_path / "pool",
            env=dict(os.environ),
            timeout_s=30,
            payload={
                "group_folder": "pool",
                "chat_jid": "web:pool",
                "topic": "",
                "session_id": None,
                "system_messages": [],
                "messages": [{"seq": seq, "id": "hi-1", "sender": "alice", "content": "hi"}],
            },
            last_seq=seq,
            reply_to_id="hi-1",
            run_id=run_id,
        )
    )
    assert woken.wait(30), "the gateway was not woken"
    pool.shutdown(5.0)
    assert seen_at_wake == [(False, str(seq), 1)]
    assert pool.take_finished() == [Finished(key, "web:pool", True, False, 0)]
    assert pool.take_finished() == []
    assert reply_texts(conn, "web:pool") == ["echo: hi"]
    assert store.open_run_of(conn, key) is None
    [row] = store.session_runs(conn, group_folder="pool")
    assert (row.result, row.limit_hit, row.sandbox) == ("ok", None, "none")
    conn.close()
