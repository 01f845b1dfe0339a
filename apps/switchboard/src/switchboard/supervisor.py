"""Runs the daemons (and chat adapters) as child processes for `switchboard up`: a name prefix
on every log line, restart with back-off (giving up after repeated quick crashes), graceful
stop."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, TextIO

import store

log = logging.getLogger(__name__)

DAEMONS: Final = ("gated", "timed", "onbod", "dashd")
COLOURS: Final = {
    "gated": "36",
    "timed": "35",
    "onbod": "33",
    "dashd": "32",
    "telegram": "34",
    "matrix": "92",
    "discord": "94",
    "slack": "95",
    "up": "1",
}
# A child that exits sooner than this after starting counts as a quick crash; this many quick
# crashes in a row and the supervisor gives up instead of restarting it forever.
QUICK_CRASH_S: Final = 10.0
MAX_QUICK_CRASHES: Final = 5
# A daemon exits 2 on a bad setting: starting it again cannot help.
SETTINGS_EXIT: Final = 2
BACKOFF_START_S: Final = 0.25
BACKOFF_MAX_S: Final = 10.0
STOP_TIMEOUT_S: Final = 10.0
FRESH_HEARTBEAT_S: Final = 15.0
TAIL_LINES: Final = 15
POLL_S: Final = 0.1
# Runs before each daemon (then execs it, keeping the pid): on Linux the kernel sends the daemon
# SIGTERM when `up` dies, even by SIGKILL, so no daemon outlives its supervisor. (The signal
# follows the thread that forked: children are spawned only from the supervising thread.)
ORPHAN_GUARD: Final = """
import ctypes, os, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, 15, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGTERM
except (OSError, AttributeError):
    pass  # not Linux: no guard
if os.getppid() != int(sys.argv[1]):
    sys.exit(0)  # the supervisor is already gone
os.execv(sys.argv[2], sys.argv[2:])
"""


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to start one child: its name, argv, the variables it gets besides `up`'s own, and
    those of `up`'s it must not get (another child's token)."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    drop_env: frozenset[str] = frozenset()


def console_argv(script: str, entry: str) -> list[str]:
    """The venv's console script `script`; when it is missing, python running the script's
    entry point `entry` ("module:function", as in pyproject.toml) the same way."""
    path = Path(sys.executable).parent / script
    if path.exists():
        return [str(path)]
    module, function = entry.split(":")
    return [sys.executable, "-c", f"from {module} import {function}; {function}()"]


def daemon_argv(name: str, db: Path, log_level: str | None = None) -> tuple[str, ...]:
    """The venv's console script for `name` (its entry point <name>.main:main when missing)."""
    argv = [*console_argv(name, f"{name}.main:main"), "--db", str(db)]
    if log_level:
        argv += ["--log-level", log_level]
    return tuple(argv)


def use_colour(stream: TextIO, env: Mapping[str, str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not env.get("NO_COLOR")


class LogPrinter:
    """Writes lines with a padded, optionally coloured `name |` prefix; one writer at a time."""

    def __init__(self, out: TextIO, colour: bool, names: Sequence[str] = DAEMONS) -> None:
        self.out = out
        self.colour = colour
        self.width = max(len(n) for n in (*names, "up"))
        self._lock = threading.Lock()

    def line(self, name: str, text: str) -> None:
        prefix = f"{name:<{self.width}} |"
        if self.colour:
            prefix = f"\033[{COLOURS.get(name, '0')}m{prefix}\033[0m"
        with self._lock:
            try:
                self.out.write(f"{prefix} {text}\n")
                self.out.flush()
            except (OSError, ValueError):
                pass  # our stdout went away (closed pipe); the children keep running


@dataclass(slots=True)
class Child:
    """A supervised daemon: its current process and its crash history."""

    spec: ChildSpec
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_crashes: int = 0
    restarts: int = 0
    restart_at: float | None = None
    reader: threading.Thread | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))


class GaveUp(Exception):
    """A child crashed too often right after starting, or refused its settings; the
    supervisor stops everything."""

    def __init__(self, name: str, crashes: int, returncode: int, tail: list[str]) -> None:
        self.name = name
        self.tail = tail
        if returncode == SETTINGS_EXIT:
            why = f"{name} refused its settings (exit code {returncode}; see its line above)"
        else:
            why = (
                f"{name} crashed {crashes} times within {QUICK_CRASH_S:.0f} s of starting "
                f"(last exit code {returncode})"
            )
        super().__init__(f"{why}; giving up and stopping the others")


class Supervisor:
    """Starts children, restarts the ones that die, and stops them all on request."""

    def __init__(self, specs: Sequence[ChildSpec], printer: LogPrinter) -> None:
        self.children = {s.name: Child(s) for s in specs}
        self.printer = printer
        self.stopping = threading.Event()

    def say(self, text: str) -> None:
        self.printer.line("up", text)

    def pids(self) -> dict[str, int]:
        return {n: c.proc.pid for n, c in self.children.items() if c.proc and c.proc.poll() is None}

    def start_all(self) -> None:
        for child in self.children.values():
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        spec = child.spec
        # Own process group: a terminal's Ctrl-C reaches only the supervisor, which then stops
        # the children in order instead of racing them.
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", ORPHAN_GUARD, str(os.getpid()), *spec.argv],
            env={
                **{k: v for k, v in os.environ.items() if k not in spec.drop_env},
                **spec.env,
            },
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        child.proc = proc
        child.started_at = time.monotonic()
        child.restart_at = None
        assert proc.stdout is not None
        child.reader = threading.Thread(
            target=self._pump, args=(child, proc.stdout), name=f"log-{spec.name}", daemon=True
        )
        child.reader.start()
        log.debug("started name=%s pid=%d", spec.name, proc.pid)

    def _pump(self, child: Child, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                child.tail.append(text)
                self.printer.line(child.spec.name, text)

    def poll(self, now: float) -> None:
        """Notice children that exited, schedule and perform restarts; GaveUp when hopeless."""
        for name, child in self.children.items():
            proc = child.proc
            if child.restart_at is not None:
                if now >= child.restart_at and not self.stopping.is_set():
                    child.restarts += 1
                    self._spawn(child)
                    self.say(f"{name} restarted (pid {child.proc.pid if child.proc else '?'})")
                continue
            if proc is None or proc.poll() is None:
                continue
            code = proc.returncode
            uptime = now - child.started_at
            if child.reader is not None:
                child.reader.join(timeout=1.0)
            child.quick_crashes = child.quick_crashes + 1 if uptime < QUICK_CRASH_S else 0
            if child.quick_crashes >= MAX_QUICK_CRASHES or code == SETTINGS_EXIT:
                raise GaveUp(name, child.quick_crashes, code, list(child.tail))
            delay = min(BACKOFF_MAX_S, BACKOFF_START_S * 2**child.quick_crashes)
            self.say(
                f"{name} exited with {describe_exit(code)} after {uptime:.1f} s; "
                f"restarting in {delay:.2f} s"
            )
            child.restart_at = now + delay

    def stop_all(self, timeout: float = STOP_TIMEOUT_S) -> dict[str, int]:
        """SIGTERM every child, wait up to `timeout`, SIGKILL the rest; their exit codes."""
        self.stopping.set()
        running = [c for c in self.children.values() if c.proc and c.proc.poll() is None]
        for child in running:
            assert child.proc is not None
            _signal(child.proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in running:
            assert child.proc is not None
            try:
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.spec.name} did not stop within {timeout:g} s; killing it")
                _signal(child.proc, signal.SIGKILL)
                child.proc.wait()
        for child in self.children.values():
            if child.reader is not None:
                child.reader.join(timeout=2.0)
        # Only the ones asked to stop: a child waiting for its restart already told its story.
        return {c.spec.name: c.proc.returncode for c in running if c.proc is not None}

    def run(
        self,
        stop: threading.Event,
        is_ready: Callable[[dict[str, int]], list[str]],
        on_ready: Callable[[], None],
        ready_timeout: float = 60.0,
    ) -> int:
        """Supervise until `stop` is set; `is_ready(pids)` lists the children not ready yet
        (each with what it waits for).

        Returns the process exit code: 0 after a requested stop, 1 after giving up.
        """
        self.start_all()
        began = time.monotonic()
        ready = warned = False
        code = 0
        try:
            while not stop.is_set():
                now = time.monotonic()
                self.poll(now)
                if not ready:
                    waiting = is_ready(self.pids())
                    if not waiting:
                        ready = True
                        on_ready()
                    elif not warned and now - began > ready_timeout:
                        warned = True
                        self.say("still waiting for: " + ", ".join(waiting))
                stop.wait(POLL_S)
        except GaveUp as exc:
            self.say(f"ERROR: {exc}")
            for text in exc.tail:
                self.say(f"  {exc.name}: {text}")
            code = 1
        self.say("stopping " + ", ".join(self.children))
        codes = self.stop_all()
        bad = {n: c for n, c in codes.items() if c != 0}
        if bad and code == 0:
            self.say(
                "not stopped cleanly: "
                + ", ".join(f"{n} ({describe_exit(c)})" for n, c in bad.items())
            )
        self.say("all stopped")
        return code


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def stale_daemons(
    conn: sqlite3.Connection, pids: Mapping[str, int], names: Sequence[str]
) -> list[str]:
    """The daemons in `names` without a fresh heartbeat written by their current process."""
    rows = {d.name: d for d in store.list_daemons(conn)}
    now = store.utcnow()
    waiting = []
    for name in names:
        d = rows.get(name)
        fresh = (
            d is not None
            and d.pid == pids.get(name)
            and not d.stopped_at
            and d.heartbeat_at is not None
            and (now - store.parse_iso(d.heartbeat_at)).total_seconds() <= FRESH_HEARTBEAT_S
        )
        if not fresh:
            waiting.append(name)
    return waiting
