"""Slow and broken clients against a real uvicorn on 127.0.0.1 running gated's channel API with
`server_options()`: a request must arrive whole within the read deadline (else 408 and close), a
client that leaves mid-body costs one log line, and the token is checked before the body."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from gated.channels import create_app
from gated.config import Config as GatewayConfig
from gated.http_limits import REQUEST_READ_TIMEOUT_S, server_options
from gated_channels_support import register
from testkit import wait_for

READ_TIMEOUT_S = 2.0
# The server must have answered 408 and closed by then (timer granularity + a loaded machine).
CLOSE_BOUND_S = READ_TIMEOUT_S + 2.0


@pytest.fixture
def live(config: GatewayConfig) -> Iterator[str]:
    """gated's channel API on a free port with a 2 s read deadline; its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # log_config=None: uvicorn's records reach the root logger, so caplog sees every line.
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            log_config=None,
            log_level="info",
            **server_options(read_timeout_s=READ_TIMEOUT_S),
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, "uvicorn to start")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=CLOSE_BOUND_S + 5)
    return s


def read_all(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return out
        if not chunk:
            return out
        out += chunk


def trickle(s: socket.socket, data: bytes, every_s: float = 0.5) -> tuple[bytes, float]:
    """Send `data` one byte per `every_s` until the server answers or closes; its answer and
    the seconds that took."""
    start = time.monotonic()
    s.setblocking(False)
    for byte in data:
        try:
            s.send(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        deadline = time.monotonic() + every_s
        answered = False
        while time.monotonic() < deadline:
            try:
                peek = s.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                time.sleep(0.02)
                continue
            except ConnectionResetError:
                peek = b""
            answered = True
            break
        if answered:
            del peek
            break
    elapsed = time.monotonic() - start
    s.setblocking(True)
    return read_all(s), elapsed


def test_default_deadline_is_documented_value() -> None:
    options = server_options()
    assert options["http"].read_timeout_s == REQUEST_READ_TIMEOUT_S == 10.0
    assert options["h11_max_incomplete_event_size"] == 16 * 1024


def test_headers_sent_one_byte_every_half_second_get_408_and_close(live: str) -> None:
    s = connect(live)
    head = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"t" * 200
    answer, took = trickle(s, head)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"field":null' in answer
    assert READ_TIMEOUT_S - 0.5 <= took <= CLOSE_BOUND_S


def test_a_body_sent_one_byte_every_half_second_gets_408_and_close(
    live: str, caplog: pytest.LogCaptureFixture
) -> None:
    with httpx.Client(base_url=live) as client:
        token = register(client)
    body = b'{"chat_jid": "chatx:r", "id": "slow", "content": "' + b"x" * 100 + b'"}'
    s = connect(live)
    s.sendall(
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with caplog.at_level(logging.INFO):
        answer, took = trickle(s, body)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert took <= CLOSE_BOUND_S
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


def test_a_connection_that_sends_nothing_is_closed(live: str) -> None:
    s = connect(live)
    start = time.monotonic()
    answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - start <= CLOSE_BOUND_S


def test_normal_clients_keep_their_connection_across_requests(live: str, db: Path) -> None:
    with httpx.Client(base_url=live) as client:
        token = register(client)
        headers = {"Authorization": f"Bearer {token}"}
        for i in range(3):
            resp = client.post(
                "/v1/messages",
                json={"chat_jid": "chatx:r", "id": str(i), "content": "hi"},
                headers=headers,
            )
            assert resp.status_code == 202
            time.sleep(READ_TIMEOUT_S / 2)  # idle between requests is not a slow request
        assert client.get("/v1/health").status_code == 200


def test_a_client_that_leaves_mid_body_costs_one_log_line(
    live: str, caplog: pytest.LogCaptureFixture
) -> None:
    with httpx.Client(base_url=live) as client:
        token = register(client)
    body = b'{"chat_jid": "chatx:r", "id": "half", "content": "' + b"x" * 1000 + b'"}'
    with caplog.at_level(logging.DEBUG):
        s = connect(live)
        s.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[: len(body) // 2]
        )
        time.sleep(0.3)  # let the server start reading the body before we leave
        s.close()
        wait_for(lambda: "client went away mid-body" in caplog.text, 5, "the disconnect line")
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    lines = [r for r in caplog.records if "mid-body" in r.getMessage()]
    assert len(lines) == 1


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/channels/register", "/v1/files"])
def test_an_unauthenticated_partial_body_is_refused_before_it_is_read(
    live: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    s = connect(live)
    with caplog.at_level(logging.DEBUG):
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Authorization: Bearer wrong\r\nContent-Length: 100000\r\n\r\n".encode()
            + b'{"name": "x'
        )
        answer = read_all(s)  # we never send the rest: a 401 must come anyway, at once
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert b'"field":"Authorization"' in answer
    assert "Traceback" not in caplog.text


def test_a_wrong_token_with_a_huge_upload_announced_is_401_at_once(live: str) -> None:
    s = connect(live)
    started = time.monotonic()
    s.sendall(
        b"POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        b"Authorization: Bearer wrong\r\nContent-Length: 1000000000000\r\n\r\n" + b"\x89PNG"
    )
    answer = s.recv(65536)  # the answer's first bytes, not the connection's end
    assert time.monotonic() - started < READ_TIMEOUT_S  # not the read deadline's 408
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    s.close()


def test_an_upload_cut_off_mid_body_leaves_no_file(
    live: str, db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with httpx.Client(base_url=live) as client:
        token = register(client)
    with caplog.at_level(logging.INFO):
        s = connect(live)
        s.sendall(
            b"POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + token.encode()
            + b"\r\nContent-Length: 200000\r\n\r\n"
            + b"x" * 100_000
        )
        files = db.parent / "files"
        wait_for(lambda: list(files.glob(".incoming-*")), 5, "the upload's temporary file")
        s.close()
        wait_for(lambda: "client went away mid-body" in caplog.text, 5, "the disconnect line")
    assert not any(p.is_file() for p in files.rglob("*"))  # the temporary file went with it
