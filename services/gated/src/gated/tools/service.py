"""gated's tool service: for each run a unix socket (`tools.sock`, in a directory only that
run's sandbox sees) and a run token; each connection is served on its own thread with its own
database connection, every request answered by `gated.tools.dispatch`. Closing a run closes
its socket and its token with it, at once (no polling loop to wait for)."""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import store

from gated.agents.tool_client import TOKEN_ENV, TOOLS_ENV
from gated.tools.context import RunIdentity
from gated.tools.dispatch import answer
from gated.tools.protocol import (
    MAX_REQUEST_BYTES,
    ToolError,
    call_id_of,
    error_line,
    parse_request,
)

log = logging.getLogger(__name__)

SOCKET_NAME: Final = "tools.sock"


@dataclass(slots=True)
class ToolRun:
    """One run's socket and token."""

    run: RunIdentity
    socket_path: Path
    token: str = field(repr=False)
    server: _RunServer | None = field(default=None, repr=False)

    def env(self, socket_path: str | None = None) -> dict[str, str]:
        """The agent's variables; `socket_path` is where the socket is as the agent sees it."""
        return {TOOLS_ENV: socket_path or str(self.socket_path), TOKEN_ENV: self.token}


class _RunServer:
    """A run's listener: an accept loop on its own thread, a thread per connection. Closing
    shuts the listening socket down, which wakes the accept at once (no polling)."""

    def __init__(self, path: Path, tool_run: ToolRun, db: str) -> None:
        self.tool_run = tool_run
        self.conns = store.ThreadConnections(db)
        self.open = True
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        os.chmod(path, 0o600)
        self.listener.listen(16)
        self.thread = threading.Thread(
            target=self._accept, name=f"tools-{tool_run.run.run_id}", daemon=True
        )
        self.thread.start()

    def _accept(self) -> None:
        while self.open:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client, client.makefile("rb") as reader:
            try:
                while line := reader.readline(MAX_REQUEST_BYTES + 1):
                    if not line.endswith(b"\n") and len(line) > MAX_REQUEST_BYTES:
                        too_big = f"a request is at most {MAX_REQUEST_BYTES} bytes"
                        client.sendall(error_line(None, ToolError("bad_request", too_big)))
                        return
                    client.sendall(self.respond(line))
            except OSError:
                log.debug("tool connection closed folder=%s", self.tool_run.run.folder)

    def respond(self, line: bytes) -> bytes:
        try:
            req = parse_request(line)
        except ToolError as err:
            return error_line(call_id_of(line), err)
        if not self.open or not hmac.compare_digest(req.token, self.tool_run.token):
            log.warning("tool call with a wrong token folder=%s", self.tool_run.run.folder)
            denied = ToolError("unauthorized", "wrong token, or the run is over", "token")
            return error_line(req.call_id, denied)
        return answer(self.conns.get(), self.tool_run.run, req)

    def close(self) -> None:
        self.open = False
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(timeout=2.0)
        self.conns.close()


class ToolService:
    """Opens and closes runs' tool sockets; gated holds one."""

    def __init__(self, db: str, runtime: Path) -> None:
        self.db = db
        self.runtime = runtime  # where runs' socket directories are made
        self._lock = threading.Lock()
        self._runs: dict[int, ToolRun] = {}

    def open_run(self, run: RunIdentity, directory: Path) -> ToolRun:
        """Listen on `directory/tools.sock` for this run (the directory is the run's own)."""
        path = directory / SOCKET_NAME
        tool_run = ToolRun(run, path, secrets.token_urlsafe(32))
        tool_run.server = _RunServer(path, tool_run, self.db)
        with self._lock:
            self._runs[run.run_id] = tool_run
        return tool_run

    def close_run(self, tool_run: ToolRun) -> None:
        """The run is over: its token stops working and its socket goes."""
        with self._lock:
            self._runs.pop(tool_run.run.run_id, None)
        server = tool_run.server
        if server is None:
            return
        server.close()
        tool_run.socket_path.unlink(missing_ok=True)

    def stop(self) -> None:
        with self._lock:
            runs = list(self._runs.values())
        for tool_run in runs:
            self.close_run(tool_run)
