"""`MatrixAdapterProcess`: `switchboard-matrix` as a real process pointed at the session's
Synapse and a gated; `MatrixWorld`: a fresh bot account and a fresh human (`MatrixHuman`) on
that Synapse for one test, so tests share the homeserver and nothing else."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from matrix_human import MatrixHuman
from testkit import wait_for
from testkit.synapse import MatrixUser, Synapse

BIN = Path(sys.executable).parent
SECRET = "platforms-test-channel-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MatrixAdapterProcess:
    """`switchboard-matrix` for one bot account."""

    def __init__(
        self,
        root: Path,
        homeserver: str,
        bot: MatrixUser,
        gated_url: str,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.root = root
        self.homeserver = homeserver
        self.bot = bot
        self.token = bot.access_token
        self.gated_url = gated_url
        self.extra = extra
        self.port = free_port()
        self.state_dir = root / "matrix-state"
        self.log_path = root / "matrix-adapter.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MatrixAdapterProcess:
        env = {
            **os.environ,
            "MATRIX_ACCESS_TOKEN": self.token,
            "SWITCHBOARD_CHANNEL_SECRET": SECRET,
            "SWITCHBOARD_MATRIX_HOMESERVER": self.homeserver,
            "SWITCHBOARD_MATRIX_USER": self.bot.user_id,
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("NOTIFY_SOCKET", None)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(BIN / "switchboard-matrix"),
                    "--gated",
                    self.gated_url,
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    "--state-dir",
                    str(self.state_dir),
                    "--sync-timeout",
                    "500",
                    "--log-level",
                    "DEBUG",
                    *self.extra,
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_logged(self, text: str, timeout: float = 30, count: int = 1) -> None:
        def seen() -> bool:
            assert self.proc is not None
            found = self.log().count(text) >= count
            if self.proc.poll() is not None and not found:
                raise AssertionError(f"adapter exited {self.proc.returncode}:\n{self.log()}")
            return found

        wait_for(seen, timeout, f"{text!r} in the adapter's log")

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"the adapter ignored SIGTERM:\n{self.log()}") from None
        return self.proc.returncode

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


@dataclass
class MatrixWorld:
    """One test's accounts on the shared Synapse."""

    synapse: Synapse
    root: Path
    bot: MatrixUser
    person: MatrixUser

    @classmethod
    def fresh(cls, synapse: Synapse, root: Path) -> MatrixWorld:
        tag = secrets.token_hex(4)
        bot = synapse.register(f"bot-{tag}", secrets.token_urlsafe(12))
        person = synapse.register(f"alice-{tag}", secrets.token_urlsafe(12))
        return cls(synapse, root, bot, person)

    def human(self) -> MatrixHuman:
        return MatrixHuman(self.synapse.url, self.person.user_id, self.person.access_token)

    def adapter(self, gated_url: str, *extra: str) -> MatrixAdapterProcess:
        return MatrixAdapterProcess(self.root, self.synapse.url, self.bot, gated_url, extra)
