"""The throw-away gated an adapter is checked against: a real `gated` process on a temporary
database where the chat under test is registered to a folder the built-in echo agent answers.
It stops and starts again on the same port and database (the "gated down and back" rule)."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import httpx
import store
from daemonkit.processes import stop_process
from gated.main import SCHEMAS

from switchboard.adaptercheck.errors import CheckError
from switchboard.adaptercheck.polling import wait_until

FOLDER: Final = "adaptercheck"
START_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 20.0
# gated pings the adapter's /health this often: "healthy again" shows within a second or two.
HEALTH_INTERVAL_S: Final = "1"
LOG_TAIL_LINES: Final = 20


class ThrowawayGated:
    """gated on `host:port` with its database, groups and log in `workdir`."""

    def __init__(self, host: str, port: int, secret: str, chat_jid: str, workdir: Path) -> None:
        self.host = host
        self.port = port
        self.secret = secret
        self.chat_jid = chat_jid
        self.workdir = workdir
        self.db = workdir / "messages.db"
        self.log_path = workdir / "gated.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def prepare(self) -> None:
        """The database, with the chat under test registered (so the echo agent answers it).
        CheckError when the port is taken: the check must never talk to some other gated."""
        try:
            with socket.create_server((self.host, self.port)):
                pass
        except OSError as exc:
            problem = f"cannot listen at {self.url}: {exc.strerror}; give a free port"
            raise CheckError(problem) from None
        conn = store.open(self.db, SCHEMAS)
        try:
            store.register_group(conn, self.chat_jid, FOLDER, name="adapter check")
        finally:
            conn.close()

    def start(self) -> None:
        """Start gated and return once its channel API answers (CheckError if it does not)."""
        # Only our settings: a deployment's SWITCHBOARD_DB, _FILES_DIR, ... must not leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        env.pop("NOTIFY_SOCKET", None)
        env["SWITCHBOARD_CHANNEL_SECRET"] = self.secret
        env["SWITCHBOARD_GROUPS_DIR"] = str(self.workdir / "groups")
        # The echo agent (switchboard-echo) is installed beside this interpreter.
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        command = [sys.executable, "-m", "gated.main", "--db", str(self.db)]
        command += ["--listen", f"{self.url.removeprefix('http://')}"]
        command += ["--health-interval", HEALTH_INTERVAL_S]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        proc = self.proc
        if not wait_until(lambda: proc.poll() is not None or self.answers(), START_TIMEOUT_S):
            self.stop()
            raise CheckError(f"the throw-away gated did not answer at {self.url} in time")
        if proc.poll() is not None:
            self.proc = None
            raise CheckError(
                f"the throw-away gated exited {proc.returncode} at start: {self.last_log_line()}"
            )

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL when it hangs); the database stays for a restart."""
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process(proc, STOP_TIMEOUT_S)

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection to the throw-away database."""
        conn = store.connect(self.db, readonly=True)
        try:
            yield conn
        finally:
            conn.close()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def last_log_line(self) -> str:
        return (self.log_tail(1) or "(no log)").strip()
