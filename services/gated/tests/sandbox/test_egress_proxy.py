"""The egress proxy on its own, spoken to over a run's real unix socket: one forwarded request
per connection (a second one pipelined behind it never goes out), oversized heads refused,
and a closed run's socket gone."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from gated.egress import EgressCounter, EgressProxy, RunEgress
from gated.rundir import RunDirs


@pytest.fixture
def web() -> Iterator[tuple[int, list[str]]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keeps connections open unless told to close

        def do_GET(self) -> None:
            seen.append(self.path)
            body = f"hello {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy() -> Iterator[tuple[EgressProxy, EgressCounter, RunDirs]]:
    counter = EgressCounter()
    dirs = RunDirs(None)
    egress = EgressProxy(counter, dirs, {"allowed.test": "127.0.0.1", "other.test": "127.0.0.1"})
    yield egress, counter, dirs
    egress.stop()
    dirs.stop()


def exchange(run: RunEgress, data: bytes) -> bytes:
    """Send `data` on a fresh connection to the run's socket; everything read until it closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(run.socket_path))
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_a_request_pipelined_behind_a_forwarded_one_never_goes_out(
    proxy: tuple[EgressProxy, EgressCounter, RunDirs], web: tuple[int, list[str]]
) -> None:
    egress, counter, _ = proxy
    port, seen = web
    run = egress.open_run(1, "demo", [f"allowed.test:{port}"])
    first = f"GET http://allowed.test:{port}/first HTTP/1.1\r\nHost: allowed.test:{port}\r\n\r\n"
    second = f"GET http://other.test:{port}/second HTTP/1.1\r\nHost: other.test:{port}\r\n\r\n"
    same = f"GET /third HTTP/1.1\r\nHost: allowed.test:{port}\r\n\r\n"
    got = exchange(run, (first + second + same).encode())
    assert got.startswith(b"HTTP/1.1 200"), got
    assert got.endswith(b"hello /first")
    assert seen == ["/first"]
    assert counter.pending() == 1  # the one forwarded request; the rest was never read
    egress.close_run(run)


def test_an_oversized_head_is_refused_and_counted_denied(
    proxy: tuple[EgressProxy, EgressCounter, RunDirs], web: tuple[int, list[str]]
) -> None:
    egress, counter, _ = proxy
    port, seen = web
    run = egress.open_run(2, "demo", [f"allowed.test:{port}"])
    huge = f"CONNECT allowed.test:{port} HTTP/1.1\r\nX-Pad: {'a' * 20000}\r\n\r\n"
    got = exchange(run, huge.encode())
    assert got.startswith(b"HTTP/1.1 431"), got
    assert seen == []
    assert counter.pending() == 1
    egress.close_run(run)


def test_a_closed_run_leaves_no_socket_and_no_directory(
    proxy: tuple[EgressProxy, EgressCounter, RunDirs],
) -> None:
    egress, _, dirs = proxy
    run = egress.open_run(3, "demo", [])
    assert run.socket_path.exists()
    assert oct(run.run_dir.stat().st_mode & 0o777) == "0o700"
    assert oct(run.socket_path.stat().st_mode & 0o777) == "0o600"
    egress.close_run(run)
    assert not Path(run.run_dir).exists()
    assert list(dirs.root().iterdir()) == []
