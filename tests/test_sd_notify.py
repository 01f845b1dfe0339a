"""Each daemon speaks systemd's notify protocol on a real NOTIFY_SOCKET datagram socket:
READY=1 once its heartbeat row exists, WATCHDOG=1 while it runs, STOPPING=1 on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import store

BIN = Path(sys.executable).parent
DAEMONS = ("gated", "timed", "onbod", "dashd")


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    # A short directory: AF_UNIX paths are limited to 108 bytes and tmp_path can be longer.
    short = tempfile.mkdtemp(prefix="sbnotify-", dir="/tmp")
    path = os.path.join(short, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    try:
        yield sock, path
    finally:
        sock.close()
        shutil.rmtree(short, ignore_errors=True)


def receive_until(
    sock: socket.socket,
    wanted: str,
    seen: list[str],
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    """Collect notify assignments into `seen` until `wanted` arrives (fail at the deadline, or
    as soon as `proc` died without sending it)."""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"no {wanted} within {timeout} s; received {seen}")
        if proc is not None and proc.poll() is not None:
            sock.settimeout(0.5)  # a last datagram may still be queued
            try:
                seen.extend(x for x in sock.recv(4096).decode().splitlines() if x)
                continue
            except TimeoutError:
                err = proc.stderr.read().decode()[-3000:] if proc.stderr else ""
                pytest.fail(f"exited {proc.returncode} before {wanted}; got {seen}\n{err}")
        sock.settimeout(min(left, 0.25))
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        seen.extend(line for line in data.decode().splitlines() if line)


def heartbeat_pid(db: Path, name: str) -> int | None:
    conn = store.connect(db, readonly=True)
    try:
        row = conn.execute("SELECT pid FROM daemons WHERE name = ?", (name,)).fetchone()
        return int(row["pid"]) if row else None
    finally:
        conn.close()


@pytest.mark.parametrize("name", DAEMONS)
def test_daemon_notifies_ready_watchdog_and_stopping(
    name: str,
    tmp_path: Path,
    notify_socket: tuple[socket.socket, str],
    free_port: Callable[[], int],
) -> None:
    sock, path = notify_socket
    db = tmp_path / "messages.db"
    env = {
        **os.environ,
        "NOTIFY_SOCKET": path,
        "SWITCHBOARD_LISTEN": f"127.0.0.1:{free_port()}",
        "SWITCHBOARD_DASHD_LISTEN": f"127.0.0.1:{free_port()}",
    }
    proc = subprocess.Popen(
        [str(BIN / name), "--db", str(db)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        seen: list[str] = []
        receive_until(sock, "READY=1", seen, timeout=30, proc=proc)
        # The heartbeat row is committed before READY=1 is sent.
        assert heartbeat_pid(db, name) == proc.pid
        receive_until(sock, "WATCHDOG=1", seen, timeout=15, proc=proc)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        receive_until(sock, "STOPPING=1", seen, timeout=20)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err.decode()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_abstract_notify_socket_is_supported(tmp_path: Path) -> None:
    """systemd may hand out an abstract socket (`@name`); READY=1 must reach it too."""
    name = f"@switchboard-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name[1:])
    env = {**os.environ, "NOTIFY_SOCKET": name}
    proc = subprocess.Popen(
        [str(BIN / "timed"), "--db", str(tmp_path / "messages.db")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        seen: list[str] = []
        receive_until(sock, "READY=1", seen, timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
