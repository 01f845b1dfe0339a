"""The real gated process for the adapters' end-to-end tests: a fresh database with the given
chats registered to folders (each answered by the built-in echo agent, or by `agent_command`),
the channel secret the adapters register with, and a clean stop (exit 0) at the end.
`RealGated` is the same process for a test that kills it and starts it again on its database
and port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import store
from gated.migrations import MIGRATIONS
from telegram_process import SECRET, free_port
from testkit import wait_for

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0


class RealGated:
    """gated on a fresh database in `root` and a free port; each `start()` runs it again on
    both, appending to `root/gated.log`."""

    def __init__(
        self,
        root: Path,
        groups: Mapping[str, str],
        agent_command: Sequence[str] | None = None,
    ) -> None:
        self.db = root / "messages.db"
        conn = store.open(self.db)
        store.migrate_service(conn, "gated", MIGRATIONS)
        config = {"command": list(agent_command)} if agent_command else None
        for jid, folder in groups.items():
            store.register_group(conn, jid, folder, agent_config=config)
        conn.close()
        self.port = free_port()
        self.env = {
            **os.environ,
            "SWITCHBOARD_CHANNEL_SECRET": SECRET,
            "SWITCHBOARD_GROUPS_DIR": str(root / "groups"),
            "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        }
        self.env.pop("NOTIFY_SOCKET", None)
        self.log_path = root / "gated.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> RealGated:
        """Run gated and wait until its channel API answers."""
        argv = [sys.executable, "-m", "gated.main", "--db", str(self.db)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*argv, "--listen", f"127.0.0.1:{self.port}"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._up, START_TIMEOUT_S, "gated's channel API")
        return self

    def _up(self) -> bool:
        assert self.proc is not None
        assert self.proc.poll() is None, self.log()[-3000:]
        try:
            return httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        assert self.proc.poll() is None, self.log()[-3000:]
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL (a stopped gated dies too) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> int:
        """SIGTERM and wait: gated's exit status (0 for a clean stop)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"gated ignored SIGTERM:\n{self.log()[-3000:]}") from None
        return self.proc.returncode


@contextmanager
def real_gated(
    tmp_path: Path, groups: Mapping[str, str], agent_command: Sequence[str] | None = None
) -> Iterator[tuple[str, Path]]:
    """gated on a free port with `groups` (jid -> folder) registered: (its URL, its db)."""
    gated = RealGated(tmp_path, groups, agent_command)
    try:
        gated.start()
        yield gated.url, gated.db
    finally:
        code = gated.stop() if gated.proc is not None else 0
        assert code == 0, gated.log()[-2000:]
