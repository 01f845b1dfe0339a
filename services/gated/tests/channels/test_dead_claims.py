"""A reply claimed by a gated that was killed with -9 goes out as soon as a new delivery worker
starts on the same host, not after the 120 s claim lease; a live worker's claim is left alone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from typing import Any

import store
from gated.config import Config
from gated.delivery import DeliveryWorker
from testkit import wait_for


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def status(conn: Any, seq: int) -> str:
    return str(conn.execute("SELECT status FROM outbox WHERE seq = ?", (seq,)).fetchone()[0])


def test_dead_workers_claims_are_released_on_start(conn: Any, config: Config) -> None:
    host = socket.gethostname()
    dead = store.store_outbound(conn, "web:demo", "claimed by a dead gated")
    alive = store.store_outbound(conn, "web:demo", "claimed by a live gated")
    store.claim_outbound(conn, f"{host}:{dead_pid()}:1", limit=1)
    store.claim_outbound(conn, f"{host}:{os.getpid()}:2", limit=1)
    assert status(conn, dead) == status(conn, alive) == "sending"

    worker = DeliveryWorker(config)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: status(conn, dead) == "sent", timeout=5, what="released and sent")
        assert status(conn, alive) == "sending"  # a live worker keeps its claim
    finally:
        stop.set()
        thread.join(timeout=5)
