"""switchboard-adapter-example: a terminal chat adapter, written to be read as a model for your
own. It registers with gated, posts each stdin line as a message from `term:<user>`, and
serves the two endpoints gated calls: `POST /send` (print a reply) and `GET /health`.

Standard library only. Run:
    SWITCHBOARD_CHANNEL_SECRET=... switchboard-adapter-example --gated http://127.0.0.1:8700
and register the chat to a group once: `switchboard group add term:$USER demo`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHANNEL = "term"  # our channel name = the jid prefix of our chats ("term:alice")


def call_gated(url: str, body: dict[str, Any], token: str) -> dict[str, Any]:
    """POST JSON to gated with a bearer token; returns the JSON answer (raises on 4xx/5xx)."""
    req = urllib.request.Request(  # noqa: S310 (main() checks the scheme is http/https)
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        answer: dict[str, Any] = json.loads(resp.read())
        return answer


class AdapterHandler(BaseHTTPRequestHandler):
    """The adapter's side of the protocol: gated calls these two endpoints."""

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/health"):
            self.answer(200, {"status": "ok"})
        else:
            self.answer(404, {"error": "not found"})

    def do_POST(self) -> None:
        if not self.path.rstrip("/").endswith("/send"):
            self.answer(404, {"error": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            msg = json.loads(self.rfile.read(length))
            text, chat = str(msg["text"]), str(msg["chat_jid"])
            part, parts = int(msg.get("part", 1)), int(msg.get("parts", 1))
        except (ValueError, KeyError, TypeError, AttributeError):
            # A 4xx tells gated not to retry: this message can never be shown.
            self.answer(400, {"error": "expected JSON with chat_jid and text"})
            return
        # A real adapter would call its platform's API here and return the platform's id.
        counter = f" ({part}/{parts})" if parts > 1 else ""
        print(f"[{chat}]{counter} {text}", flush=True)
        self.answer(200, {"remote_id": f"term-{msg.get('seq')}-{part}"})

    def answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the terminal for the chat


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="switchboard-adapter-example", description=__doc__)
    p.add_argument("--gated", default="http://127.0.0.1:8700", help="gated's channel API URL")
    p.add_argument("--listen", default="127.0.0.1:8701", help="HOST:PORT to serve /send on")
    p.add_argument("--user", default=os.environ.get("USER") or "me", help="your name")
    args = p.parse_args(argv)
    secret = os.environ.get("SWITCHBOARD_CHANNEL_SECRET")
    if not secret:
        print(
            "error: set SWITCHBOARD_CHANNEL_SECRET (the secret gated was started with)",
            file=sys.stderr,
        )
        return 2
    if not args.gated.startswith(("http://", "https://")):
        print(f"error: --gated must be an http(s) URL, got {args.gated!r}", file=sys.stderr)
        return 2
    host, _, port = args.listen.rpartition(":")
    gated = args.gated.rstrip("/")

    # 1. Serve /send and /health (port 0 picks a free port).
    server = ThreadingHTTPServer((host, int(port)), AdapterHandler)
    my_url = f"http://{host}:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()

    # 2. Register: the shared secret buys a channel token for every later call.
    try:
        token = call_gated(
            f"{gated}/v1/channels/register", {"name": CHANNEL, "url": my_url}, secret
        )["token"]
    except (urllib.error.URLError, OSError) as exc:
        print(f"error: cannot register with gated at {gated}: {exc}", file=sys.stderr)
        return 1
    chat_jid = f"{CHANNEL}:{args.user}"
    print(f"adapter at {my_url}; chatting as {chat_jid}; Ctrl-D to quit", file=sys.stderr)

    # 3. Each line typed becomes a message; the id makes a retried POST harmless.
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            body = {
                "chat_jid": chat_jid,
                "id": uuid.uuid4().hex,
                "content": line.rstrip("\n"),
                "sender": args.user,
                "sender_name": args.user,
            }
            try:
                call_gated(f"{gated}/v1/messages", body, token)
            except urllib.error.HTTPError as exc:
                print(f"error: gated refused the message: {exc.read().decode()}", file=sys.stderr)
            except (urllib.error.URLError, OSError) as exc:
                print(f"error: gated unreachable: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
