"""The daemon kit's HTTP listener: bound before ready, and a server that stops on its own ends
the daemon with exit 1 (the Runner logs the reason last) instead of a daemon without its API."""

from __future__ import annotations

import logging
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import store
from daemonkit.errors import Fatal
from daemonkit.listener import HttpListener, bind
from daemonkit.runner import Runner


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


class ListeningService:
    name = "listening"
    version = "1"

    def __init__(self) -> None:
        self.listener = HttpListener("test API", hello, "127.0.0.1", 0, log_level="warning")
        self.steps = 0
        self.answered = ""

    def start(self) -> None:
        self.listener.start()

    def step(self, now: datetime) -> float | None:
        self.listener.check()
        self.steps += 1
        if self.steps == 1:
            self.answered = httpx.get(f"http://127.0.0.1:{self.listener.port}/").text
            assert self.listener.server is not None
            self.listener.server.should_exit = True  # the server ends; nobody asked the daemon
        return 0.05

    def stop(self) -> None:
        self.listener.stop()

    def info(self) -> dict[str, Any]:
        return {}


def test_a_listener_that_dies_later_ends_the_daemon_with_exit_1(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conn = store.open(tmp_path / "m.db")
    service = ListeningService()
    with caplog.at_level(logging.INFO):
        code = Runner(service, conn).run()
    assert code == 1
    assert service.answered == "hello"
    assert caplog.records[-1].levelname == "ERROR"
    assert caplog.records[-1].getMessage() == (
        f"listening cannot go on, exiting: test API: the server on 127.0.0.1:"
        f"{service.listener.port} stopped unexpectedly"
    )


def test_bind_names_the_address_and_the_reason() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(Fatal, match=rf"^x: could not serve on 127.0.0.1:{port}: Address"):
            bind("x", "127.0.0.1", port)


def test_port_0_binds_a_free_port() -> None:
    sock = bind("x", "127.0.0.1", 0)
    try:
        assert sock.getsockname()[1] > 0
    finally:
        sock.close()


def test_kept_alive_connections_answer_without_the_delayed_ack_wait() -> None:
    """The second and later requests on one kept-alive connection: without TCP_NODELAY on the
    accepted socket each waited ~40 ms for the client's delayed ACK (headers and body are two
    writes). 20 requests on one connection, each read to its end."""
    listener = HttpListener("test API", hello, "127.0.0.1", 0, log_level="warning")
    port = listener.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            took = []
            for _ in range(20):
                started = time.perf_counter()
                conn.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                answer = b""
                while not answer.endswith(b"\r\n0\r\n\r\n"):  # chunked: the last chunk
                    chunk = conn.recv(65536)
                    assert chunk, "the server closed the connection"
                    answer += chunk
                took.append(time.perf_counter() - started)
        later = sorted(took[1:])
        assert later[len(later) // 2] < 0.015, f"median {later[len(later) // 2] * 1000:.1f} ms"
    finally:
        listener.stop()


def test_bound_sockets_disable_nagle() -> None:
    with bind("test API", "127.0.0.1", 0) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
