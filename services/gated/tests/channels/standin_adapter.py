"""A stand-in chat-platform adapter for tests: serves POST /send (recording each body as a JSON
line) and GET /health; POST /control switches it to answer 500 or 400, or to fail after N sends.

Run: python standin_adapter.py --port 0 --record sends.jsonl   (prints "PORT <n>" when ready)
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STATE: dict[str, Any] = {"mode": "ok", "ok_budget": None, "failed": 0, "sent": 0}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    record_path = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def do_GET(self) -> None:
        if self.path == "/health":
            with LOCK:
                ok = STATE["mode"] == "ok"
            self._answer(200 if ok else 500, {"status": "ok" if ok else "failing"})
        elif self.path == "/stats":
            with LOCK:
                self._answer(200, dict(STATE))
        else:
            self._answer(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self._body()
        if self.path == "/control":
            with LOCK:
                STATE.update(body)
            self._answer(200, {"ok": True})
            return
        if self.path != "/send":
            self._answer(404, {"error": "not found"})
            return
        with LOCK:
            if STATE["ok_budget"] is not None:
                if STATE["ok_budget"] <= 0:
                    STATE["mode"] = "500"
                    STATE["ok_budget"] = None
                else:
                    STATE["ok_budget"] -= 1
            mode = STATE["mode"]
            if mode != "ok":
                STATE["failed"] += 1
            else:
                STATE["sent"] += 1
                with open(self.record_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(body) + "\n")
                n = STATE["sent"]
        if mode == "ok":
            self._answer(200, {"remote_id": f"r{n}"})
        elif mode == "400":
            self._answer(400, {"error": "no such chat"})
        else:
            self._answer(500, {"error": "platform down"})


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--record", required=True)
    args = p.parse_args()
    Handler.record_path = args.record
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
