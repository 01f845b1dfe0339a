"""An agent that tries the network: each message (JSON) lists fetches to try, and it replies
with a JSON report (name → what it got, or `ERR ...` when it failed). With `pause`, it writes
`fetched` after the first round and waits for the file `go` before a second round."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT_S = 10.0
PAUSE_S = 60.0  # at most this long for the test's `go`


def via_proxy(url: str) -> str:
    """GET url with urllib, which takes HTTP_PROXY from the environment."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:  # noqa: S310 (http:// only)
            return f"{resp.status} {resp.read().decode()}"
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {exc.read().decode().strip()}"


def absolute(url: str) -> str:
    """GET url sent to HTTP_PROXY in absolute form, whatever NO_PROXY says."""
    proxy = urllib.parse.urlsplit(os.environ["HTTP_PROXY"])
    conn = http.client.HTTPConnection(proxy.hostname or "", proxy.port, timeout=TIMEOUT_S)
    try:
        conn.request("GET", url)
        resp = conn.getresponse()
        return f"{resp.status} {resp.read().decode().strip()}"
    finally:
        conn.close()


def tunnel(host: str, port: int) -> str:
    """CONNECT host:port through HTTPS_PROXY, then a plain GET through the tunnel."""
    proxy = urllib.parse.urlsplit(os.environ["HTTPS_PROXY"])
    conn = http.client.HTTPConnection(proxy.hostname or "", proxy.port, timeout=TIMEOUT_S)
    conn.set_tunnel(host, port)
    try:
        conn.request("GET", "/tunnel")
        resp = conn.getresponse()
        return f"{resp.status} {resp.read().decode()}"
    except OSError as exc:
        return f"ERR {type(exc).__name__}: {exc}"[:300]
    finally:
        conn.close()


def direct(host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as s:
        s.sendall(b"GET /direct HTTP/1.0\r\nHost: x\r\n\r\n")
        return s.recv(200).decode(errors="replace").split("\r\n", 1)[0]


def attempt(kind: str, *args: Any) -> str:
    try:
        if kind == "proxy":
            return via_proxy(*args)
        if kind == "absolute":
            return absolute(*args)
        if kind == "tunnel":
            return tunnel(*args)
        if kind == "direct":
            return direct(*args)
        if kind == "env":
            return os.environ.get(args[0], "(unset)")
        return f"ERR unknown {kind}"
    except Exception as exc:
        return f"ERR {type(exc).__name__}: {exc}"[:300]


def round_of(tries: dict[str, list[Any]]) -> dict[str, str]:
    return {name: attempt(*spec) for name, spec in tries.items()}


def main() -> None:
    request = json.loads(sys.stdin.readline())
    for msg in request["messages"]:
        task = json.loads(msg["content"])
        report: dict[str, Any] = {"first": round_of(task["tries"])}
        if task.get("pause"):
            with open("fetched", "w") as f:
                f.write("1")
            deadline = time.monotonic() + PAUSE_S
            while not os.path.exists("go") and time.monotonic() < deadline:
                time.sleep(0.05)
            report["after"] = round_of(task["tries"])
        print(json.dumps({"type": "message", "text": json.dumps(report)}), flush=True)
    print(json.dumps({"type": "result", "status": "ok"}), flush=True)


if __name__ == "__main__":
    main()
