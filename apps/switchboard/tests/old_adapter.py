"""A protocol 1.0 terminal adapter, for the checker's own test: the example adapter as it was
before 1.1. It registers with a name and a URL only (no protocol, send secret or
capabilities), serves `POST /send` and `GET /health` to anyone, knows no idempotency key and
no `/typing`. A typed line is posted until gated takes it. Same flags as the example (its
--state-dir is unused: a 1.0 adapter keeps nothing)."""

from __future__ import annotations

import json
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from gated import adapter_example as example


class OldHandler(example.AdapterHandler):
    """gated's calls as protocol 1.0 makes them: no secret, no key, nothing but /send."""

    def do_GET(self) -> None:
        if self.path == "/health":
            self.answer(200, {"status": "ok"})
        else:
            self.answer(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != "/send":
            self.answer(404, {"error": "not found"})
            return
        try:
            msg: dict[str, Any] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            chat, text, part = str(msg["chat_jid"]), str(msg["text"]), int(msg.get("part", 1))
        except (ValueError, KeyError, TypeError):
            self.answer(400, {"error": "expected JSON with chat_jid and text"})
            return
        print(f"[{chat}] {text}", flush=True)
        self.answer(200, {"remote_id": f"term-{msg.get('seq')}-{part}"})


def main() -> int:
    args, secret = example.parse_args(None)
    host, _, port = args.listen.rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), OldHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://{host}:{server.server_address[1]}"
    gated = example.Gated(args.gated, secret, {"name": example.CHANNEL, "url": url})
    gated.register()
    print(f"protocol 1.0 adapter at {url}", file=sys.stderr)
    example.chat(gated, args.user, sys.stdin)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
