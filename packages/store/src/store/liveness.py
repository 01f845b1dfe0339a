"""Who holds a lease and whether it is gone: each process has an identity (host, pid, the pid's
start time, a random instance id) recorded with its daemon's heartbeat, and one rule, used by
every lease holder (outbox claims, open agent runs), says when its work is taken back."""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from store.clock import parse_iso, utcnow

# A heartbeat older than this (three of daemonkit.runner.HEARTBEAT_S) means its process is silent.
SILENT_AFTER_S: Final = 15.0
# /proc/<pid>/stat states of a process that has exited: zombie (not reaped yet), dead.
EXITED_STATES: Final = frozenset({"Z", "X"})
PROC: Final = Path("/proc")

_IDENTITY: dict[int, Owner] = {}


@dataclass(frozen=True, slots=True)
class Owner:
    """A process as a lease names it: `host:pid:start:instance` (`token`)."""

    host: str
    pid: int
    start: str | None  # /proc/<pid>/stat field 22 (clock ticks after boot); None: not known
    instance: str | None  # random per process; None in a token of the old `host:pid:x` form

    @property
    def token(self) -> str:
        return f"{self.host}:{self.pid}:{self.start or ''}:{self.instance or ''}"


@dataclass(frozen=True, slots=True)
class ProcessState:
    """What /proc/<pid>/stat says of a process on this host."""

    state: str  # field 3: R, S, D, T, Z (zombie), X (dead), ...
    start: str  # field 22


@dataclass(frozen=True, slots=True)
class Beat:
    """The heartbeat row that holds an owner's instance."""

    heartbeat_at: datetime
    stopped: bool


def parse_owner(token: str) -> Owner | None:
    """The owner a lease names: `host:pid:start:instance`, or the older `host:pid:<anything>`
    (pid only); None for a token that names no process (a test's or a tool's claimer)."""
    parts = token.split(":")
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    if len(parts) == 4 and (parts[2].isdigit() or not parts[2]) and parts[3]:
        return Owner(parts[0], int(parts[1]), parts[2] or None, parts[3])
    return Owner(parts[0], int(parts[1]), None, None)


def read_process(pid: int) -> ProcessState | None:
    """State and start time of a process of this host; None when there is no such pid."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if len(fields) < 20:
        return None
    return ProcessState(state=fields[0], start=fields[19])


def process_start(pid: int) -> str | None:
    """The start time of a running process (not a zombie): with the pid, its identity."""
    proc = read_process(pid)
    return None if proc is None or proc.state in EXITED_STATES else proc.start


def me() -> Owner:
    """This process's identity (made once per pid, so a forked child gets its own)."""
    pid = os.getpid()
    owner = _IDENTITY.get(pid)
    if owner is None:
        owner = Owner(socket.gethostname(), pid, process_start(pid), secrets.token_hex(8))
        _IDENTITY[pid] = owner
    return owner


def gone_reason(
    owner: Owner,
    *,
    me: Owner,
    process: ProcessState | None,
    beat: Beat | None,
    held_since: datetime | None,
    now: datetime,
    sees_processes: bool = True,
) -> str | None:
    """Why the owner of a lease is gone, or None while it may be alive (its lease stands).

    On this host the process table decides: no such pid ('dead'), a zombie ('zombie'), or
    another process under the pid ('pid reused') is gone; a live process with the owner's start
    time keeps its lease however slow it is. Of another host only the heartbeat row holding the
    owner's instance is known: a clean stop ('stopped'), a heartbeat older than SILENT_AFTER_S
    ('silent'), or no row at all once the lease is that old ('replaced': the daemon's row now
    names a newer instance) is gone. An owner named by pid only is judged by its pid on this
    host, and not at all on another (it waits out the lease). Without /proc
    (`sees_processes` false) this host is judged like another one.
    """
    if owner.instance is not None and owner.instance == me.instance:
        return None
    if owner.host == me.host and sees_processes:
        if owner.pid == me.pid and owner.start == me.start and owner.instance is not None:
            return "replaced"  # an earlier life of this very process (same pid after a reboot)
        if process is None:
            return "dead"
        if process.state in EXITED_STATES:
            return "zombie"
        if owner.start is not None and process.start != owner.start:
            return "pid reused"
        return None
    if owner.instance is None:
        return None
    if beat is None:
        if held_since is not None and (now - held_since).total_seconds() > SILENT_AFTER_S:
            return "replaced"
        return None
    if beat.stopped:
        return "stopped"
    if (now - beat.heartbeat_at).total_seconds() > SILENT_AFTER_S:
        return "silent"
    return None


def owner_gone(
    conn: sqlite3.Connection,
    token: str,
    *,
    held_since: datetime | None = None,
    now: datetime | None = None,
) -> str | None:
    """`gone_reason` of the owner a lease token names, read from /proc and the `daemons` table;
    None when it may be alive or the token names no process."""
    owner = parse_owner(token)
    if owner is None:
        return None
    here = me()
    sees = (PROC / "self").is_dir()
    local = sees and owner.host == here.host
    process = read_process(owner.pid) if local else None
    beat = None
    if not local and owner.instance is not None:
        row = conn.execute(
            "SELECT heartbeat_at, stopped_at FROM daemons WHERE instance = ?", (owner.instance,)
        ).fetchone()
        if row is not None and row[0]:
            beat = Beat(parse_iso(row[0]), row[1] is not None)
    return gone_reason(
        owner,
        me=here,
        process=process,
        beat=beat,
        held_since=held_since,
        now=now or utcnow(),
        sees_processes=sees,
    )
