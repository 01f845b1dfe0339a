"""The stand-in chat-platform adapter, run as its own process (`python -m
testkit.adapter_server`): it speaks gated's adapter protocol, `POST /send` and `GET /health`.

Each accepted /send body is appended as one JSON line to --record (with --stamp, the line also
holds `_received_at`, the monotonic clock on arrival, shared by every process on the machine);
--delay makes each /send answer that many seconds late (a slow platform). `POST /control`
switches it to answer 500 or 400 (`{"mode": "500"}`), 429 or 503 with a `Retry-After` header
(`{"mode": "429", "retry_after": "3"}`), or to fail after N more sends (`{"ok_budget": N}`);
`GET /stats` returns those counters (and `last_failed_at`, monotonic). It listens on --port
(0: any free port), prints `PORT <n>` once listening and, with --port-file, writes the port
there too.

With --secret (adapter protocol 1.1) every protocol call (/send, /typing, /health) without
`Authorization: Bearer <secret>` is a 401, and `POST /typing` bodies are appended, stamped, to
<record>.typing.jsonl. Without it, it speaks protocol 1.0 as before.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

STAMP_KEY: Final = "_received_at"


class Platform:
    """The adapter's state: the failure mode, the budget of good sends, the counters."""

    def __init__(
        self, record: Path, *, delay: float, stamp: bool, secret: str | None = None
    ) -> None:
        self.record, self.delay, self.stamp, self.secret = record, delay, stamp, secret
        self.lock = threading.Lock()
        self.state: dict[str, Any] = {
            "mode": "ok",
            "ok_budget": None,
            "failed": 0,
            "sent": 0,
            "retry_after": None,
            "last_failed_at": None,
            "unauthorized": 0,
        }

    def authorized(self, header: str | None) -> bool:
        """A 1.0 stand-in lets anyone call; a 1.1 one wants its secret."""
        if self.secret is None or header == f"Bearer {self.secret}":
            return True
        with self.lock:
            self.state["unauthorized"] += 1
        return False

    def typing(self, body: dict[str, Any], received_at: float) -> None:
        line = {**body, STAMP_KEY: received_at}
        with self.lock, typing_record(self.record).open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    def healthy(self) -> bool:
        with self.lock:
            return bool(self.state["mode"] == "ok")

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.state)

    def control(self, changes: dict[str, Any]) -> None:
        with self.lock:
            self.state.update(changes)

    def accept(self, body: dict[str, Any], received_at: float) -> tuple[int, dict[str, Any]]:
        """Record one /send body (unless failing); the HTTP status and answer for it."""
        with self.lock:
            state = self.state
            if state["ok_budget"] is not None:
                if state["ok_budget"] <= 0:
                    state["mode"], state["ok_budget"] = "500", None
                else:
                    state["ok_budget"] -= 1
            mode = state["mode"]
            if mode != "ok":
                state["failed"] += 1
                state["last_failed_at"] = received_at
            else:
                state["sent"] += 1
                line = {**body, STAMP_KEY: received_at} if self.stamp else body
                with self.record.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(line) + "\n")
                sent = state["sent"]
        if mode == "ok":
            return 200, {"remote_id": f"r{sent}"}
        if mode == "400":
            return 400, {"error": "no such chat"}
        if mode in ("429", "503"):
            return int(mode), {"error": "slow down"}
        return 500, {"error": "platform down"}

    def retry_after(self) -> str | None:
        with self.lock:
            value = self.state["retry_after"]
        return None if value is None else str(value)


def typing_record(record: Path) -> Path:
    """Where a 1.1 stand-in appends the /typing bodies it gets."""
    return record.with_suffix(".typing.jsonl")


def handler_for(platform: Platform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def answer(
            self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(body).encode()
            # The caller (gated) may have been killed while waiting for this answer.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        def refused(self) -> bool:
            """A protocol call without the secret (1.1) is answered 401 before its body."""
            if self.path in ("/control", "/stats"):
                return False  # the test's controls, not the protocol
            if platform.authorized(self.headers.get("Authorization")):
                return False
            self.close_connection = True
            self.answer(401, {"error": "missing or wrong Authorization"})
            return True

        def do_GET(self) -> None:
            if self.refused():
                return
            if self.path == "/health":
                ok = platform.healthy()
                self.answer(200 if ok else 500, {"status": "ok" if ok else "failing"})
            elif self.path == "/stats":
                self.answer(200, platform.stats())
            else:
                self.answer(404, {"error": "not found"})

        def do_POST(self) -> None:
            received_at = time.monotonic()
            if self.refused():
                return
            try:
                n = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(n)
                if len(data) < n:
                    return  # a request cut short by a killed caller: headers, then no body
                body = json.loads(data or b"{}")
            except (ValueError, ConnectionResetError):
                return  # a request cut short by a killed caller
            if not isinstance(body, dict):
                self.answer(400, {"error": "the body must be a JSON object"})
                return
            if self.path == "/control":
                platform.control(body)
                self.answer(200, {"ok": True})
                return
            if self.path == "/typing" and platform.secret is not None:
                platform.typing(body, received_at)
                self.answer(200, {"ok": True})
                return
            if self.path != "/send":
                self.answer(404, {"error": "not found"})
                return
            status, answer = platform.accept(body, received_at)
            if platform.delay:
                time.sleep(platform.delay)  # the platform's round trip
            after = platform.retry_after() if status in (429, 503) else None
            self.answer(status, answer, {"Retry-After": after} if after else None)

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m testkit.adapter_server")
    parser.add_argument("--record", type=Path, required=True, help="JSON lines of /send bodies")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--port-file", type=Path, help="write the port here once listening")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--stamp", action="store_true", help="record each body's arrival time")
    parser.add_argument("--secret", help="protocol 1.1: the send secret every call must carry")
    args = parser.parse_args(argv)
    platform = Platform(args.record, delay=args.delay, stamp=args.stamp, secret=args.secret)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(platform))
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(str(port))
        tmp.replace(args.port_file)
    print(f"PORT {port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
