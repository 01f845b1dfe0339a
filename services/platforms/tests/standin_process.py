"""A platform stand-in as a process of its own, both halves: `serve_app` runs in the stand-in
(its aiohttp app on a free 127.0.0.1 port, written to --port-file once it listens) and
`StandinProcess` is the test's side (start `python <script> serve --port-file F ...`, wait for
the port, stop). The Telegram, Slack and Discord stand-ins are built on it."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Final, Self

from aiohttp import web
from daemonkit.processes import stop_process

START_TIMEOUT_S: Final = 20.0
STOP_TIMEOUT_S: Final = 10.0
POLL_S: Final = 0.02


def serve_app(
    make_app: Callable[[], web.Application],
    port_file: Path,
    on_port: Callable[[int], None] = lambda port: None,
) -> None:
    """Serve `make_app()` on 127.0.0.1 until interrupted; its port goes to `on_port`, then to
    `port_file` (written whole, by a rename, so a reader never sees half of it)."""

    async def run() -> None:
        runner = web.AppRunner(make_app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = int(runner.addresses[0][1])
        on_port(port)
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(port))
        tmp.replace(port_file)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


class StandinProcess:
    """A stand-in process seen from a test: `start()` returns once it listens (a failed start
    leaves no process behind), `stop()` ends it. A subclass names its platform and script and
    adds its own `serve` options."""

    platform: ClassVar[str]  # "Telegram": in messages, and the port file's name
    script: ClassVar[str]  # the stand-in module's file, run as `python script serve ...`

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve_args(self) -> list[str]:
        """The `serve` options besides --port-file."""
        return []

    def start(self) -> Self:
        port_file = self.workdir / f"{self.platform.lower()}-standin.port"
        port_file.unlink(missing_ok=True)
        command = [sys.executable, self.script, "serve", "--port-file", str(port_file)]
        self.proc = subprocess.Popen([*command, *self.serve_args()], stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the {self.platform} stand-in did not start")
            time.sleep(POLL_S)
        self.port = int(port_file.read_text())
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, STOP_TIMEOUT_S)
