"""Per-run cgroups with the memory and pids controllers, when gated may create them: cgroup v2
(a delegated subtree, systemd `Delegate=yes`) or cgroup v1 (writable memory and pids
hierarchies). Reads back which limit a run hit; at start, removes the run cgroups a gated that
is gone left behind."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from store.liveness import process_start

from gated.sandbox.spec import LimitName

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids")
RMDIR_TRIES = 50  # a killed run's processes leave the cgroup within milliseconds
STALE_EMPTY_S = 2.0  # how long a left-behind cgroup's killed processes get to leave it
# A gated's run cgroups live under `<its own cgroup>/switchboard-gated-<pid>-<start ticks>/`.
TAG_PREFIX = "switchboard-gated-"


@dataclass(frozen=True, slots=True)
class CgroupParent:
    """Where run cgroups are made: one directory per controller (v1) or one (v2)."""

    version: int
    dirs: tuple[Path, ...]  # v1: (memory dir, pids dir); v2: (the delegated dir,)
    thread_join: bool = False  # v1: the spawning thread may join a run cgroup and come back

    def create(self, name: str, memory_mb: int, pids: int) -> RunCgroup:
        made: list[Path] = []
        try:
            for parent in self.dirs:
                d = parent / name
                d.mkdir()
                made.append(d)
            cg = RunCgroup(self.version, tuple(made), self.thread_join)
            cg.set_limits(memory_mb, pids)
            return cg
        except OSError:
            for d in made:
                with contextlib.suppress(OSError):
                    d.rmdir()
            raise


@dataclass(frozen=True, slots=True)
class RunCgroup:
    version: int
    dirs: tuple[Path, ...]
    thread_join: bool = False  # see `holding_thread`

    @property
    def procs_files(self) -> tuple[str, ...]:
        """What the run's process writes its pid to before exec, when `thread_join` is off."""
        return () if self.thread_join else tuple(str(d / "cgroup.procs") for d in self.dirs)

    @contextlib.contextmanager
    def holding_thread(self) -> Iterator[None]:
        """With `thread_join` (cgroup v1): the calling thread alone joins this cgroup while it
        starts the run's process, which is then born inside it (a child inherits its forking
        thread's cgroups), and goes back to its own cgroups after. Writing `0` to `tasks` moves
        just the caller without the kernel's threadgroup lock, whose grace period made the
        child's own `cgroup.procs` write cost ~10 ms (measured; 0.4 ms for this round trip).
        While inside, the thread counts once against the run's pids limit; gated's memory is
        still charged to gated (cgroup v1 charges a process's pages to its mm owner)."""
        if not self.thread_join:
            yield
            return
        home = _thread_paths()
        joined: list[Path] = []
        try:
            for d in self.dirs:
                _write(d / "tasks", "0")
                joined.append(d)
            yield
        finally:
            for controller, _ in zip(CONTROLLERS, joined, strict=False):
                try:
                    _write(CGROUP_ROOT / controller / home[controller].lstrip("/") / "tasks", "0")
                except OSError:
                    log.exception("cannot leave a run cgroup controller=%s", controller)

    def _file(self, controller: str, name: str) -> Path:
        if self.version == 2:
            return self.dirs[0] / name
        return self.dirs[CONTROLLERS.index(controller)] / name

    def set_limits(self, memory_mb: int, pids: int) -> None:
        limit = str(memory_mb * 1024 * 1024)
        if self.version == 2:
            self._file("memory", "memory.max").write_text(limit)
            with contextlib.suppress(OSError):
                self._file("memory", "memory.swap.max").write_text("0")
            self._file("pids", "pids.max").write_text(str(pids))
            return
        self._file("memory", "memory.limit_in_bytes").write_text(limit)
        with contextlib.suppress(OSError):  # swap accounting may be off
            self._file("memory", "memory.memsw.limit_in_bytes").write_text(limit)
        self._file("pids", "pids.max").write_text(str(pids))

    def hit(self) -> LimitName | None:
        """The limit this cgroup ran into: `memory` (an OOM kill) or `pids` (a refused fork)."""
        mem_file = "memory.events" if self.version == 2 else "memory.oom_control"
        if _counter(self._file("memory", mem_file), "oom_kill") > 0:
            return "memory"
        if _counter(self._file("pids", "pids.events"), "max") > 0:
            return "pids"
        return None

    def remove(self) -> None:
        for d in self.dirs:
            for _ in range(RMDIR_TRIES):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
            else:
                log.warning("cgroup still busy, left behind path=%s", d)


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _own_paths(which: str = "self") -> dict[str, str]:
    """controller (or '' for v2) → this process's (or `thread-self`: this thread's) cgroup
    path, from /proc/<which>/cgroup."""
    out: dict[str, str] = {}
    for line in Path("/proc", which, "cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            out[c] = path
    return out


def _thread_paths() -> dict[str, str]:
    return _own_paths("thread-self")


def _v1_parent(own: dict[str, str], tag: str) -> CgroupParent | None:
    dirs = []
    for c in CONTROLLERS:
        base = CGROUP_ROOT / c
        if c not in own or not (base / "cgroup.procs").exists():
            return None
        d = base / own[c].lstrip("/") / tag
        d.mkdir(exist_ok=True)
        dirs.append(d)
    return CgroupParent(1, tuple(dirs))


def _v2_parent(own: dict[str, str], tag: str) -> CgroupParent | None:
    if "" not in own or not (CGROUP_ROOT / "cgroup.subtree_control").exists():
        return None
    base = CGROUP_ROOT / own[""].lstrip("/")
    if not set(CONTROLLERS) <= set((base / "cgroup.controllers").read_text().split()):
        return None
    # No process may sit in a cgroup that hands controllers down: gated moves itself into a
    # leaf first, then enables memory and pids for its run cgroups beside it.
    leaf = base / "gated"
    leaf.mkdir(exist_ok=True)
    (leaf / "cgroup.procs").write_text(str(os.getpid()))
    (base / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in CONTROLLERS))
    runs = base / tag
    runs.mkdir(exist_ok=True)
    (runs / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in CONTROLLERS))
    return CgroupParent(2, (runs,))


def _can_hold_thread(probe: RunCgroup) -> bool:
    """Whether this thread can join a run cgroup and come back (v1 only; as root, or with
    both ends' `tasks` files delegated to gated)."""
    if probe.version != 1:
        return False
    own = _thread_paths()
    try:
        with RunCgroup(1, probe.dirs, thread_join=True).holding_thread():
            inside = _thread_paths()
    except OSError:
        return False
    home = _thread_paths()
    return all(inside[c] != own[c] and home[c] == own[c] for c in CONTROLLERS)


@lru_cache(maxsize=1)
def cgroup_parent() -> tuple[CgroupParent | None, str]:
    """Where this gated makes run cgroups, or None and why not (then rlimits are used). The
    first call (at gated's start) also removes what gateds that are gone left behind."""
    tag = f"{TAG_PREFIX}{os.getpid()}-{process_start(os.getpid()) or 0}"
    try:
        own = _own_paths()
        parent = _v2_parent(own, tag) if "memory" not in own else _v1_parent(own, tag)
    except (OSError, ValueError) as exc:
        return None, f"cannot create cgroups: {exc}"
    if parent is None:
        return None, "no writable memory and pids cgroup controllers"
    try:
        probe = parent.create("probe", 64, 8)
        thread_join = _can_hold_thread(probe)
        probe.remove()
    except OSError as exc:
        return None, f"cannot create cgroups: {exc}"
    parent = CgroupParent(parent.version, parent.dirs, thread_join)
    for d in parent.dirs:
        remove_stale(d.parent)
    return parent, ""


def remove_parent(parent: CgroupParent) -> None:
    """At gated's stop: remove its (empty) run-cgroup directories."""
    for d in parent.dirs:
        with contextlib.suppress(OSError):
            d.rmdir()


def owner_gone(name: str) -> bool:
    """Whether the gated that made the parent directory `name` has exited: no process has its
    pid and start time (`switchboard-gated-<pid>-<start>`; an older `switchboard-gated-<pid>`:
    no process has its pid). Not a gated parent's name: False."""
    pid, _, start = name.removeprefix(TAG_PREFIX).partition("-")
    if not name.startswith(TAG_PREFIX) or not pid.isdigit() or not (start or "0").isdigit():
        return False
    alive = process_start(int(pid))
    return alive is None or (bool(start) and alive != start)


def remove_stale(base: Path) -> list[Path]:
    """Remove the run cgroups (and parent directories) under `base` left by gateds that are
    gone: their remaining processes (agents or what they started) are killed first. A live
    gated's are never touched: its pid and start time name its directory. The removed paths."""
    removed: list[Path] = []
    try:
        names = sorted(e.name for e in os.scandir(base) if e.is_dir(follow_symlinks=False))
    except OSError:
        return removed
    for name in names:
        if not owner_gone(name):
            continue
        for d in _bottom_up(base / name):
            killed = _kill_members(d)
            if _rmdir_when_empty(d):
                removed.append(d)
                log.warning(
                    "removed a cgroup left by a gated that is gone path=%s killed=%d", d, killed
                )
            else:
                log.warning("cannot remove a cgroup left by a gated that is gone path=%s", d)
    return removed


def _bottom_up(top: Path) -> list[Path]:
    """top and every cgroup below it, children first."""
    out: list[Path] = []
    for root, dirs, _ in os.walk(top, topdown=False):
        out += [Path(root) / d for d in dirs]
    return [*out, top]


def _members(d: Path) -> list[int]:
    try:
        return [int(p) for p in (d / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _kill_members(d: Path) -> int:
    """SIGKILL every process in cgroup d. Each is pinned by a pidfd and found in the cgroup
    again before the signal, so a pid reused meanwhile by another process is never hit."""
    killed = 0
    for pid in _members(d):
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            if pid in _members(d):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
                killed += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return killed


def _rmdir_when_empty(d: Path) -> bool:
    deadline = time.monotonic() + STALE_EMPTY_S
    while True:
        try:
            d.rmdir()
            return True
        except FileNotFoundError:
            return False
        except OSError:
            if time.monotonic() > deadline:
                return False
            _kill_members(d)
            time.sleep(0.01)
