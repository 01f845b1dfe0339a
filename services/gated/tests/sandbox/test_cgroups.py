"""Run cgroups on this host's real cgroup hierarchy: a run's process is born in its cgroup with
its rlimits, the thread that started it goes back, and the cgroups a killed gated left behind
are emptied and removed by the next start (and a live gated's are not)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import store
from gated.sandbox import CgroupParent, SandboxSpec, cgroup_parent
from gated.sandbox.cgroups import TAG_PREFIX, owner_gone
from gated.sandbox.spawn import start_process
from gated_loop_support import group_dir, put, start_gated, stop_gated, wait_for
from store.liveness import process_start


@pytest.fixture
def parent() -> CgroupParent:
    got, reason = cgroup_parent()
    if got is None:
        pytest.skip(f"no run cgroups here: {reason}")
    return got


@pytest.fixture
def keep(parent: CgroupParent) -> Iterator[list[Path]]:
    """A run cgroup of this (live) process, which no gated's start may remove."""
    cg = parent.create(f"run-keep-{os.getpid()}", 64, 8)
    yield list(cg.dirs)
    cg.remove()


def cgroup_lines(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(","):
            out[c] = path
    return out


def test_a_run_is_born_in_its_cgroup_with_its_rlimits_and_the_thread_goes_back(
    parent: CgroupParent, tmp_path: Path
) -> None:
    spec = SandboxSpec(sandbox="none", memory_mb=64, pids=16, cpu_s=7, disk_mb=3)
    cg = parent.create("run-born-inside", spec.memory_mb, spec.pids)
    seen: dict[str, str] = {}

    def start() -> None:
        before = Path("/proc/thread-self/cgroup").read_text()
        proc = start_process(
            ["sh", "-c", "cat /proc/self/cgroup; echo limits $(ulimit -t) $(ulimit -f)"],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin"},
            limits=spec,
            cgroup=cg,
        )
        out, _ = proc.communicate(b"", timeout=10)
        seen["child"] = out.decode()
        seen["thread_after"] = Path("/proc/thread-self/cgroup").read_text()
        seen["thread_before"] = before

    try:
        worker = threading.Thread(target=start)
        worker.start()
        worker.join(15)
        child = cgroup_lines(seen["child"].rsplit("\n", 2)[0])
        own = cgroup_lines(Path("/proc/self/cgroup").read_text())
        if parent.version == 1:
            for c, d in zip(("memory", "pids"), cg.dirs, strict=True):
                assert child[c] != own[c]
                assert str(d).endswith(child[c])
        else:
            assert str(cg.dirs[0]).endswith(child[""])
        # cpu_s seconds (RLIMIT_CPU) and disk_mb in 512-byte blocks (RLIMIT_FSIZE).
        assert seen["child"].splitlines()[-1] == f"limits 7 {3 * 1024 * 1024 // 512}"
        assert seen["thread_after"] == seen["thread_before"]
        assert cgroup_lines(Path("/proc/self/cgroup").read_text()) == own
    finally:
        cg.remove()
    assert not any(d.exists() for d in cg.dirs)


def test_a_parent_directory_is_stale_only_when_no_process_has_its_pid_and_start() -> None:
    me = f"{os.getpid()}-{process_start(os.getpid())}"
    done = subprocess.Popen(["true"])
    done.wait()
    assert not owner_gone(f"{TAG_PREFIX}{me}")
    assert owner_gone(f"{TAG_PREFIX}{os.getpid()}-1")  # the pid now names another process
    assert owner_gone(f"{TAG_PREFIX}{done.pid}-1")
    assert owner_gone(f"{TAG_PREFIX}{done.pid}")  # the form without a start time
    assert not owner_gone(f"{TAG_PREFIX}{os.getpid()}")
    for other in ("gated", "probe", "run-1", f"{TAG_PREFIX}x-1", f"{TAG_PREFIX}1-x"):
        assert not owner_gone(other)


def test_cgroups_a_killed_gated_left_are_emptied_and_removed_by_the_next_start(
    parent: CgroupParent, keep: list[Path], data_dir: Path
) -> None:
    db = data_dir / "messages.db"
    store.open(db).close()
    folder = group_dir(db, "stuck")
    # An unconfined agent that starts a process in a session of its own (out of reach of a
    # process-group kill), then waits; run again, it answers.
    script = (
        'if [ -e escaped.pid ]; then echo \'{"type": "result", "status": "ok"}\'; exit; fi; '
        "setsid sleep 300 & echo $! > escaped.pid; exec sleep 300"
    )
    command = ["sh", "-c", script]
    conn = store.connect(db)
    store.register_group(conn, "web:stuck", "stuck", agent_config={"command": command})
    first = start_gated(db, "--agent-timeout", "120")
    escaped = 0
    try:
        put(conn, "web:stuck", "hello")
        pid_file = folder / "escaped.pid"
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), what="the agent")
        escaped = int(pid_file.read_text())
        bases = [d.parent for d in parent.dirs]
        left = [p for b in bases for p in b.glob(f"{TAG_PREFIX}{first.proc.pid}-*")]
        assert len(left) == len(bases)
        runs = [r for p in left for r in p.glob("run-*")]
        assert runs
        assert all(str(escaped) in (r / "cgroup.procs").read_text() for r in runs)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
        assert process_start(escaped) is not None  # it outlived its gated
        assert all(p.exists() for p in left)

        second = start_gated(db)
        try:
            wait_for(lambda: process_start(escaped) is None, what="the escaped process killed")
            wait_for(lambda: not any(p.exists() for p in left), what="the stale cgroups removed")
            log = second.log_text()
            for r in runs:
                assert f"removed a cgroup left by a gated that is gone path={r}" in log
            assert all(d.exists() for d in keep)  # a live process's run cgroup is left alone
        finally:
            stop_gated(second)
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
        if escaped and process_start(escaped) is not None:
            os.kill(escaped, signal.SIGKILL)
        conn.close()
