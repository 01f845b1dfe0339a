"""The in-sandbox forwarder: its port filled into the agent's variables, connections copied to
the proxy's unix socket both ways, the agent's exit status and signals passed through."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from gated.sandbox.forwarder import agent_env, exit_status

FORWARDER = [sys.executable, "-I", "-m", "gated.sandbox.forwarder"]
# The agent: fetch $BASE_URL's path over HTTP/1.0-ish raw TCP and print the reply.
CLIENT = """
import os, socket, sys, urllib.parse
u = urllib.parse.urlsplit(os.environ["BASE_URL"])
with socket.create_connection((u.hostname, u.port)) as s:
    s.sendall(f"GET {u.path} ping".encode())
    s.shutdown(socket.SHUT_WR)
    data = b""
    while chunk := s.recv(4096):
        data += chunk
print(data.decode(), os.environ.get("FROM_FILE"), flush=True)
sys.exit(3)
"""


def test_agent_env_fills_the_port_into_templates_only() -> None:
    env = agent_env({"PATH": "/bin"}, ["A=http://127.0.0.1:{port}/x", "B=k"], 4242, {"C": "{port}"})
    assert env == {"PATH": "/bin", "A": "http://127.0.0.1:4242/x", "B": "k", "C": "{port}"}
    with pytest.raises(ValueError, match="NAME=TEMPLATE"):
        agent_env({}, ["nonsense"], 1, {})
    both = agent_env({}, ["P={egress_port}", "B={port}/{egress_port}"], 1, {}, egress_port=2)
    assert both == {"P": "2", "B": "1/2"}


def test_exit_status_is_the_code_or_128_plus_the_signal() -> None:
    assert exit_status(0) == 0
    assert exit_status(3) == 3
    assert exit_status(-signal.SIGTERM) == 128 + signal.SIGTERM


def echo_server(path: Path) -> socket.socket:
    """A unix socket answering each connection with `echo:` and what it read."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
                conn.sendall(b"echo:" + data)

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_a_connection_reaches_the_socket_and_the_agents_status_comes_back(tmp_path: Path) -> None:
    server = echo_server(tmp_path / "proxy.sock")
    env_file = tmp_path / "agent-env.json"
    env_file.write_text(json.dumps({"FROM_FILE": "filed"}))
    try:
        done = subprocess.run(
            [
                *FORWARDER,
                "--socket",
                str(tmp_path / "proxy.sock"),
                "--set-env",
                "BASE_URL=http://127.0.0.1:{port}/anthropic",
                "--env-file",
                str(env_file),
                "--",
                sys.executable,
                "-c",
                CLIENT,
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
    finally:
        server.close()
    assert done.returncode == 3, done.stderr
    assert done.stdout.decode().strip() == "echo:GET /anthropic ping filed"
    assert not env_file.exists()


def test_sigterm_reaches_the_agent_and_its_death_is_the_status(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    agent = f"import pathlib, time; pathlib.Path({str(ready)!r}).touch(); time.sleep(60)"
    proc = subprocess.Popen(
        [*FORWARDER, "--socket", str(tmp_path / "none.sock"), "--", sys.executable, "-c", agent]
    )
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert time.monotonic() < deadline, "the agent never started"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=20) == 128 + signal.SIGTERM
