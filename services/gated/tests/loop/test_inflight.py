"""An agent run's open session_log row names the gated that owns it: a running gated leaves a
live owner's run and agent alone, and takes the run over within seconds once that owner is gone
(here: killed and not yet reaped, a zombie) — its agent killed, its row closed, the batch
answered here. The owner is a stand-in process in one test, a second real gated in the other."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
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
from store import liveness

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
LEFT_ALONE_S = 3.0  # longer than gated.takeover.RECHECK_S: several looks at the run


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def alive(pid: int) -> bool:
    state = liveness.read_process(pid)
    return state is not None and state.state not in liveness.EXITED_STATES


def test_a_live_owners_run_is_left_alone_and_a_gone_owners_is_taken_over(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    db = tmp_path / "messages.db"
    conn = store.open(db)
    store.register_group(conn, "web:held", "held")
    seq = put(conn, "web:held", "hello")
    store.set_state(conn, "agent_cursor:web:held", str(seq - 1))
    # Another gated (a stand-in process with a real identity) runs this batch right now.
    owner = subprocess.Popen(SLEEPER)
    agent = subprocess.Popen(SLEEPER, start_new_session=True)
    sleepers.extend([owner, agent])
    token = liveness.Owner(
        liveness.me().host, owner.pid, liveness.process_start(owner.pid), "other-gated"
    ).token
    key = store.WorkKey.chat("web:held")
    run_id = store.open_run(
        conn, store.NewRun(key, "held", "", "web:held", seq, sandbox="none"), owner=token
    )
    assert run_id is not None
    assert store.note_pid(conn, run_id, agent.pid, liveness.process_start(agent.pid), owner=token)
    held = store.open_run_of(conn, key)

    gated = start_gated(db)
    try:
        deadline = time.monotonic() + LEFT_ALONE_S
        while time.monotonic() < deadline:
            assert alive(agent.pid), "the live owner's agent was killed"
            assert reply_texts(conn, "web:held") == []
            assert runs(conn, "held")[0]["ended_at"] is None
            time.sleep(0.1)
        assert store.open_run_of(conn, key) == held

        owner.kill()  # not reaped: a zombie, as a killed gated is until its parent waits
        killed_at = time.monotonic()
        wait_for(lambda: reply_texts(conn, "web:held") == ["echo: hello"], 10, "the batch rerun")
        assert time.monotonic() - killed_at < 10
        wait_for(lambda: not alive(agent.pid), 5, "the gone owner's agent killed")
        first = runs(conn, "held")[0]
        assert (first["result"], first["error"]) == ("killed", "gated gone (zombie)")
        wait_for(lambda: store.open_run_of(conn, key) is None, 10, "run done")
        rerun = runs(conn, "held")[-1]
        assert (rerun["result"], rerun["batch_end"]) == ("ok", seq)
        assert rerun["owner"].startswith(f"{liveness.me().host}:{gated.proc.pid}:")
    finally:
        assert stop_gated(gated) == 0, gated.log_text()
        conn.close()


def test_a_second_gated_leaves_a_running_gateds_run_alone_and_takes_it_over_once_it_dies(
    tmp_path: Path,
) -> None:
    db = tmp_path / "messages.db"
    conn = store.open(db)
    store.register_group(conn, "web:two", "two", agent_config={"command": agent_command("hang.py")})
    put(conn, "web:two", "hello")
    first = start_gated(db)
    started = group_dir(db, "two") / "started.txt"
    agent = int(wait_for(lambda: started.exists() and started.read_text().split(), what="hang")[0])
    key = store.WorkKey.chat("web:two")
    held = store.open_run_of(conn, key)
    assert held is not None
    second = start_gated(db)
    try:
        deadline = time.monotonic() + LEFT_ALONE_S
        while time.monotonic() < deadline:
            assert alive(agent), "the first gated's agent was killed"
            assert store.open_run_of(conn, key) == held
            time.sleep(0.1)
        # From now on the folder's agent is the echo agent: what a re-run here would start.
        store.update_folder_settings(conn, "two", {}, ["command"])
        first.proc.kill()  # not reaped yet: a zombie
        wait_for(lambda: reply_texts(conn, "web:two") == ["echo: hello"], 10, "the batch rerun")
        wait_for(lambda: not alive(agent), 5, "the dead gated's agent killed")
        taken = runs(conn, "two")[0]
        assert (taken["id"], taken["result"], taken["error"]) == (
            held.id,
            "killed",
            "gated gone (zombie)",
        )
        wait_for(lambda: store.open_run_of(conn, key) is None, 10, "run done")
        assert [r["result"] for r in runs(conn, "two")] == ["killed", "ok"]
        assert runs(conn, "two")[1]["owner"].startswith(f"{liveness.me().host}:{second.proc.pid}:")
    finally:
        first.proc.wait()
        assert stop_gated(second) == 0, second.log_text()
        conn.close()
