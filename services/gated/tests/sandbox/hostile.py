"""A hostile agent: the message says what to try. `escape` tries to read, write, reach and
signal what a confined agent must not, and replies with a JSON report (attempt → what it got,
null when it failed); `forkbomb`, `memory`, `disk` and `cpu` run into a limit."""

from __future__ import annotations

import ctypes
import json
import os
import socket
import sys
import time
from typing import Any


def attempt(fn: Any) -> str | None:
    """What an attempt got (as text), or None when it failed."""
    try:
        got = fn()
    except Exception:
        return None
    return None if got is None or got is False else str(got)[:200]


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(64)


def proc_reads(name: str) -> str | None:
    """Any process visible in /proc whose `name` entry holds something."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                data = read(f"/proc/{pid}/{name}")
            except OSError:
                continue
            if data:
                found.append(f"{pid}:{data[:40]!r}")
    return ";".join(found) or None


def environ_has(canaries: list[str]) -> str | None:
    hits = [c for c in canaries if any(c in v for v in os.environ.values())]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    data = f.read()
            except OSError:
                continue
            hits += [f"{pid}:{c}" for c in canaries if c.encode() in data]
    return ",".join(hits) or None


def foreign_fds() -> str | None:
    fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
    out = []
    for fd in fds:
        if fd > 2:
            try:
                out.append(f"{fd}->{os.readlink(f'/proc/self/fd/{fd}')}")
            except OSError:
                continue
    # The listing's own directory fd is closed by now; anything left was inherited.
    return ",".join(o for o in out if "/proc/" not in o) or None


def write(path: str) -> str:
    with open(path, "w") as f:
        f.write("pwned")
    return path


def connect(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return f"connected to {port}"


def ptrace(pid: int) -> str | None:
    libc = ctypes.CDLL(None, use_errno=True)
    rc = libc.ptrace(16, pid, None, None)  # PTRACE_ATTACH
    return f"ptrace attached {pid}" if rc == 0 else None


def escape(t: dict[str, Any]) -> dict[str, str | None]:
    db, other, canaries = t["db"], t["other"], t["canaries"]
    own = os.path.basename(os.getcwd())
    report = {
        "read_db": attempt(lambda: read(db)),
        "find_db_in_its_dir": attempt(
            lambda: os.path.basename(db) in os.listdir(os.path.dirname(db)) or None
        ),
        "read_db_via_ppid_cwd": attempt(
            lambda: read(f"/proc/{os.getppid()}/cwd/../../{os.path.basename(db)}")
        ),
        "proc_cwd_of_any_process": attempt(lambda: proc_reads("cwd/../../messages.db")),
        "inherited_fds": attempt(foreign_fds),
        "list_other_folder": attempt(lambda: os.listdir(other)),
        "read_other_folder": attempt(lambda: read(os.path.join(other, "secret.txt"))),
        "list_groups_dir": attempt(
            lambda: [n for n in os.listdir(os.path.dirname(other)) if n != own] or None
        ),
        "gated_environment": attempt(lambda: environ_has(canaries)),
        "symlink_to_etc_shadow": attempt(lambda: read("link_shadow")),
        "symlink_to_other_group": attempt(lambda: read("link_other")),
        "symlink_to_db": attempt(lambda: read("link_db")),
        "write_etc": attempt(lambda: write("/etc/pwned")),
        "write_usr": attempt(lambda: write("/usr/pwned")),
        "write_python_env": attempt(lambda: write(os.path.join(sys.prefix, "pwned"))),
        "write_other_folder": attempt(lambda: write(os.path.join(other, "pwned"))),
        "write_groups_dir": attempt(lambda: write(os.path.join(os.path.dirname(other), "pwned"))),
        "write_db_dir": attempt(lambda: write(os.path.join(os.path.dirname(db), "pwned"))),
        "connect_gated_api": attempt(lambda: connect(t["gated_port"])),
        "connect_test_server": attempt(lambda: connect(t["server_port"])),
        "resolve_name": attempt(lambda: socket.getaddrinfo("example.com", 80)),
        "see_gated_process": attempt(lambda: os.path.exists(f"/proc/{t['gated_pid']}") or None),
        "signal_gated": attempt(lambda: os.kill(t["gated_pid"], 0) or "signalled"),
        "ptrace_gated": attempt(lambda: ptrace(t["gated_pid"])),
        "capabilities": attempt(capabilities),
    }
    return report


def capabilities() -> str | None:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:") and line.split()[1].strip("0"):
                return line.strip()
    return None


def forkbomb() -> None:
    while True:
        try:
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
        except OSError:
            time.sleep(0.01)


def memory() -> None:
    hoard = []
    while True:
        hoard.append(bytearray(16 * 1024 * 1024))


def disk() -> None:
    chunk = b"x" * (1024 * 1024)
    try:
        with open("fill.bin", "wb") as f:
            while True:
                f.write(chunk)
                f.flush()
    except OSError:
        time.sleep(60)  # over the quota now: gated kills the run


def cpu() -> None:
    while True:
        pass


def main() -> None:
    request = json.loads(sys.stdin.readline())
    for msg in request["messages"]:
        task = json.loads(msg["content"])
        mode = task["mode"]
        if mode == "escape":
            text = json.dumps(escape(task))
        else:
            {"forkbomb": forkbomb, "memory": memory, "disk": disk, "cpu": cpu}[mode]()
            text = "survived"
        print(json.dumps({"type": "message", "text": text}), flush=True)
    print(json.dumps({"type": "result", "status": "ok"}), flush=True)


if __name__ == "__main__":
    main()
