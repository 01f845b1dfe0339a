"""A run's resource limits: rlimits set before the command runs (cpu, file size, and memory and
processes when no cgroup holds them), the folder's disk quota, and which limit a finished or
running run hit."""

from __future__ import annotations

import os
import resource
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from gated.sandbox.cgroups import RunCgroup
from gated.sandbox.spec import LimitName, SandboxSpec

MIB = 1024 * 1024
CPU_HARD_EXTRA_S = 5  # SIGXCPU at cpu_s, SIGKILL this much later
MAX_WALK_ENTRIES = 20_000  # a folder walk stops counting here (the quota check stays cheap)
# Exit statuses of a process killed by a limit's signal: -N from Popen when unconfined,
# 128+N from bubblewrap when confined.
SIGNAL_LIMITS: dict[int, LimitName] = {signal.SIGXCPU: "cpu", signal.SIGXFSZ: "disk"}

# prlimit(1)'s option for each rlimit a run gets.
PRLIMIT_OPTIONS: dict[int, str] = {
    resource.RLIMIT_CPU: "cpu",
    resource.RLIMIT_FSIZE: "fsize",
    resource.RLIMIT_CORE: "core",
    resource.RLIMIT_AS: "as",
    resource.RLIMIT_NPROC: "nproc",
}

Rlimits = tuple[tuple[int, int, int], ...]  # (resource, soft, hard)


@dataclass(frozen=True, slots=True)
class Mechanisms:
    """How each limit is enforced (for doctor and status)."""

    memory: str
    pids: str
    cpu: str = "rlimit (RLIMIT_CPU, per process)"
    disk: str = "rlimit (RLIMIT_FSIZE) + folder quota check + /tmp tmpfs size"


def mechanisms(cgroup_version: int | None) -> Mechanisms:
    if cgroup_version is not None:
        return Mechanisms(f"cgroup v{cgroup_version}", f"cgroup v{cgroup_version}")
    return Mechanisms(
        "rlimit (RLIMIT_AS, per process)", "rlimit (RLIMIT_NPROC, per user; none for root)"
    )


def rlimits(spec: SandboxSpec, *, cgroup: bool) -> Rlimits:
    out = [
        (resource.RLIMIT_CPU, spec.cpu_s, spec.cpu_s + CPU_HARD_EXTRA_S),
        (resource.RLIMIT_FSIZE, spec.disk_mb * MIB, spec.disk_mb * MIB),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    if not cgroup:
        out.append((resource.RLIMIT_AS, spec.memory_mb * MIB, spec.memory_mb * MIB))
        out.append((resource.RLIMIT_NPROC, spec.pids, spec.pids))
    return tuple(out)


@lru_cache(maxsize=1)
def prlimit_path() -> str | None:
    """util-linux's prlimit(1), when installed (Debian's util-linux is essential)."""
    return shutil.which("prlimit")


def prlimit_argv(prlimit: str, limits: Rlimits) -> list[str]:
    """The command line prefix that sets `limits` and execs the command after it: prlimit(1)
    sets them on itself (failing, it exits 1 and runs nothing), so the command and everything
    it starts have them from their first instruction."""
    flags = [f"--{PRLIMIT_OPTIONS[res]}={soft}:{hard}" for res, soft, hard in limits]
    return [prlimit, *flags, "--"]


def child_setup(limits: Rlimits, procs_files: tuple[str, ...]) -> Callable[[], None]:
    """The preexec function, where it is still needed (cgroup v2, or no prlimit(1)): join the
    run's cgroups, set the rlimits. Only system calls (no imports, no locks), so it is safe in
    the forked child of a threaded gated."""

    def setup() -> None:
        pid = str(os.getpid()).encode()
        for path in procs_files:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
        for res, soft, hard in limits:
            resource.setrlimit(res, (soft, hard))

    return setup


def folder_usage(folder: str) -> int:
    """Bytes of the regular files under folder (symlinks not followed)."""
    total = 0
    seen = 0
    stack = [folder]
    while stack and seen < MAX_WALK_ENTRIES:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    seen += 1
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue
    return total


class RunLimits:
    """Watches one run: asked while it runs (and once after), says which limit it hit."""

    def __init__(self, spec: SandboxSpec, folder: str, cgroup: RunCgroup | None) -> None:
        self.spec = spec
        self.folder = folder
        self.cgroup = cgroup

    def hit(self) -> tuple[LimitName, str] | None:
        if self.cgroup is not None:
            limit = self.cgroup.hit()
            if limit == "memory":
                return limit, f"memory limit of {self.spec.memory_mb} MB hit (killed)"
            if limit == "pids":
                return limit, f"pids limit of {self.spec.pids} processes hit (a fork was refused)"
        used = folder_usage(self.folder)
        if used > self.spec.disk_mb * MIB:
            return "disk", (
                f"disk limit of {self.spec.disk_mb} MB hit (the folder holds {used // MIB} MB)"
            )
        return None

    def hit_by_exit(self, rc: int) -> tuple[LimitName, str] | None:
        """A limit read from the exit status (SIGXCPU, SIGXFSZ), else the watched ones."""
        for sig, limit in SIGNAL_LIMITS.items():
            if rc in (-sig, 128 + sig):
                if limit == "cpu":
                    return limit, f"cpu limit of {self.spec.cpu_s} s hit"
                return limit, f"disk limit of {self.spec.disk_mb} MB hit (file size)"
        return self.hit()
