"""The dashd process: bad --listen values and a taken port fail at start with a clear line."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def run_dashd(tmp_path: Path, listen: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dashd.main", "--db", str(tmp_path / "m.db"), "--listen", listen],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_malformed_listen_address_is_refused(tmp_path: Path) -> None:
    r = run_dashd(tmp_path, "localhost")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "dashd: error: --listen='localhost' is not allowed: expected HOST:PORT (port 0-65535), "
        "e.g. 127.0.0.1:8080"
    ]
    assert not (tmp_path / "m.db").exists()


def test_a_taken_port_is_reported(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run_dashd(tmp_path, f"127.0.0.1:{port}")
    assert r.returncode != 0
    assert f"could not serve on 127.0.0.1:{port}" in r.stderr
