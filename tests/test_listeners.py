"""A daemon whose listener cannot bind never says it is ready: gated's channel API and dashd on
a port another program holds exit 1 with the reason as their last log line, send no READY=1 to
systemd and write no heartbeat."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import store

BIN = Path(sys.executable).parent
LISTEN_ENV = {"gated": "SWITCHBOARD_LISTEN", "dashd": "SWITCHBOARD_DASHD_LISTEN"}
WHAT = {"gated": "channel API", "dashd": "dashboard"}


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program listens on for the whole test."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


@pytest.mark.parametrize("name", ["gated", "dashd"])
def test_a_taken_port_means_exit_1_and_never_ready(
    name: str, taken_port: int, tmp_path: Path
) -> None:
    short = tempfile.mkdtemp(prefix="sbnotify-", dir="/tmp")
    path = os.path.join(short, "notify")
    db = tmp_path / "messages.db"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(path)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        env.update(
            {
                "SWITCHBOARD_DB": str(db),
                LISTEN_ENV[name]: f"127.0.0.1:{taken_port}",
                "SWITCHBOARD_DASHD_LISTEN" if name == "gated" else "SWITCHBOARD_LISTEN": (
                    "127.0.0.1:0"
                ),
                "NOTIFY_SOCKET": path,
            }
        )
        try:
            proc = subprocess.run(
                [str(BIN / name)], env=env, capture_output=True, text=True, timeout=60
            )
        finally:
            notify.setblocking(False)
            received = []
            while True:
                try:
                    received.append(notify.recv(4096).decode())
                except BlockingIOError:
                    break
            shutil.rmtree(short, ignore_errors=True)
    assert proc.returncode == 1, proc.stderr
    assert not any("READY=1" in r for r in received), received
    last = proc.stderr.strip().splitlines()[-1]
    assert last.endswith(
        f"{name} cannot go on, exiting: {WHAT[name]}: could not serve on "
        f"127.0.0.1:{taken_port}: Address already in use"
    ), proc.stderr
    assert " ready pid=" not in proc.stderr
    assert "Traceback" not in proc.stderr
    conn = store.connect(db, readonly=True)
    try:
        assert conn.execute("SELECT count(*) FROM daemons").fetchone()[0] == 0
    finally:
        conn.close()


def test_the_harness_moves_a_daemon_whose_port_was_taken(unstarted_system: Any) -> None:
    system = unstarted_system
    with socket.socket() as other:
        other.bind(("127.0.0.1", system.gated_port))
        other.listen()
        taken = system.gated_port
        system.start("gated")
        assert system.gated_port != taken
        assert f"could not serve on 127.0.0.1:{taken}" in system.log("gated")
        assert system.healthy("gated")
