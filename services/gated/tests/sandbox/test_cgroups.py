"""Run cgroups on this host's real cgroup hierarchy: a run's process is born in its cgroup with
its rlimits, and the thread that started it goes back."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from gated.sandbox import CgroupParent, SandboxSpec, cgroup_parent
from gated.sandbox.spawn import start_process


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
