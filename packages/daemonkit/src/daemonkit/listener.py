"""A daemon's HTTP listener: the socket is bound before the daemon says it is ready, the app is
served by uvicorn on a thread, and `check()` turns a server that stopped on its own into `Fatal`,
so the daemon exits non-zero and its supervisor restarts it."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from daemonkit.errors import Fatal

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
BACKLOG = 2048


def bind(what: str, host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free one); Fatal when it cannot be.

    TCP_NODELAY is set here, and connections accepted from the socket inherit it. asyncio would
    set it on each connection itself, but only for a socket made with proto IPPROTO_TCP, and
    `socket.create_server` makes them with proto 0: without it, the second and later responses
    on a kept-alive connection (headers and body written apart) waited ~40 ms for the client's
    delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise Fatal(f"{what}: could not serve on {host}:{port}: {reason}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class HttpListener:
    """One ASGI app served on one bound socket by a uvicorn server on its own thread."""

    def __init__(self, what: str, app: Any, host: str, port: int, **options: Any) -> None:
        self.what = what
        self.app = app
        self.host = host
        self.port = port
        self.options = options
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.stopping = False

    def start(self) -> int:
        """Bind, serve, and wait until uvicorn accepts connections; the bound port."""
        import uvicorn

        sock = bind(self.what, self.host, self.port)
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(self.app, log_config=None, **self.options)
        server = self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self._serve, args=(server, sock), name=self.what, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not self.thread.is_alive():
                raise Fatal(f"{self.what}: the server on {self.host}:{self.port} did not start")
            if time.monotonic() > deadline:
                raise Fatal(f"{self.what}: the server on {self.host}:{self.port} took too long")
            time.sleep(0.01)
        return self.port

    def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException:  # SystemExit from uvicorn included: check() reports it
            log.exception("%s: the server failed", self.what)
        finally:
            sock.close()

    def check(self) -> None:
        """Fatal when the server has stopped although nobody asked it to."""
        if self.thread is not None and not self.stopping and not self.thread.is_alive():
            raise Fatal(f"{self.what}: the server on {self.host}:{self.port} stopped unexpectedly")

    def stop(self) -> None:
        self.stopping = True
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(STOP_TIMEOUT_S)
