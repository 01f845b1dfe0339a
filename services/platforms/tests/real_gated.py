"""The real gated process for the adapters' end-to-end tests: a fresh database with the given
chats registered to folders (each answered by the built-in echo agent), the channel secret
the adapters register with, and a clean stop (exit 0) at the end."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import store
from gated.migrations import MIGRATIONS
from telegram_process import SECRET, free_port
from testkit import wait_for


@contextmanager
def real_gated(tmp_path: Path, groups: Mapping[str, str]) -> Iterator[tuple[str, Path]]:
    """gated on a free port with `groups` (jid -> folder) registered: (its URL, its db)."""
    db = tmp_path / "messages.db"
    conn = store.open(db)
    store.migrate_service(conn, "gated", MIGRATIONS)
    for jid, folder in groups.items():
        store.register_group(conn, jid, folder)
    conn.close()
    port = free_port()
    env = {
        **os.environ,
        "SWITCHBOARD_CHANNEL_SECRET": SECRET,
        "SWITCHBOARD_GROUPS_DIR": str(tmp_path / "groups"),
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
    }
    env.pop("NOTIFY_SOCKET", None)
    log_path = tmp_path / "gated.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gated.main", "--db", str(db), "--listen", f"127.0.0.1:{port}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, log_path.read_text()
        try:
            return httpx.get(f"{base}/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=30, what="gated's channel API")
        yield base, db
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0, log_path.read_text()[-2000:]
