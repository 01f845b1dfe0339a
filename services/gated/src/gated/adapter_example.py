"""switchboard-adapter-example: a terminal chat adapter speaking adapter protocol 1.1, written
to be read as a model for your own. It registers with gated, posts each stdin line as a message
from `term:<user>`, and serves what gated calls: `POST /send` (print a reply), `POST /typing`
and `GET /health`, each only with the send secret it registered.

Standard library only. Run:
    SWITCHBOARD_CHANNEL_SECRET=... switchboard-adapter-example --gated http://127.0.0.1:8700
and register the chat to a group once: `switchboard group add term:$USER demo`.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import secrets
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

CHANNEL = "term"  # our channel name = the jid prefix of our chats ("term:alice")
MAX_TEXT = 2000  # the longest reply part we show; gated splits longer replies for us
CAPABILITIES = {"max_text": MAX_TEXT, "typing": True, "files_in": False, "files_out": False}
RETRY_FIRST_S = 0.5  # gated down: wait this long, doubling up to RETRY_MAX_S, and try again
RETRY_MAX_S = 10.0
RETRY_STATUSES = frozenset({408, 425, 429})  # with every 5xx: "try again later"


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


def until_answered(what: str, call: Callable[[], T]) -> T:
    """Run `call` until gated answers it: while gated is down (or answers 5xx/429) wait and try
    again; any other 4xx is raised, since retrying cannot help."""
    wait = RETRY_FIRST_S
    while True:
        try:
            return call()
        except urllib.error.HTTPError as exc:
            if exc.code < 500 and exc.code not in RETRY_STATUSES:
                raise
            problem = f"answered {exc.code}"
        except OSError as exc:  # URLError, refused connections and timeouts are OSErrors
            problem = str(exc)
        print(f"{what}: gated {problem}; trying again in {wait:g} s", file=sys.stderr)
        time.sleep(wait)
        wait = min(wait * 2, RETRY_MAX_S)


class Gated:
    """Our side of gated's channel API: register (again if gated forgets our token) and post."""

    def __init__(self, url: str, channel_secret: str, registration: dict[str, Any]) -> None:
        self.url = url.rstrip("/")
        self.channel_secret = channel_secret
        self.registration = registration
        self.token = ""

    def register(self) -> None:
        """The shared secret buys a channel token for every later call."""
        answer = until_answered(
            "registration",
            lambda: call_gated(
                f"{self.url}/v1/channels/register", self.registration, self.channel_secret
            ),
        )
        self.token = answer["token"]

    def post(self, body: dict[str, Any]) -> None:
        """Post one message until gated stored it (its id makes a repeat harmless)."""
        while True:
            try:
                until_answered(
                    "message", lambda: call_gated(f"{self.url}/v1/messages", body, self.token)
                )
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 401:
                    raise
                self.register()  # a new gated database does not know our token


class SentLog:
    """The /send idempotency keys already shown, with the remote id we answered; in a sqlite
    file so that a restarted adapter still shows each reply once."""

    def __init__(self, path: Path) -> None:
        self.lock = threading.Lock()  # held from the look-up to the record: one show per key
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("CREATE TABLE IF NOT EXISTS sent (key TEXT PRIMARY KEY, remote_id TEXT)")

    def get(self, key: str) -> str | None:
        row = self.db.execute("SELECT remote_id FROM sent WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def add(self, key: str, remote_id: str) -> None:
        self.db.execute("INSERT INTO sent (key, remote_id) VALUES (?, ?)", (key, remote_id))


class AdapterServer(ThreadingHTTPServer):
    """The HTTP side, with what its handlers need: the send secret and the keys already sent."""

    def __init__(self, listen: str, handler: type[BaseHTTPRequestHandler], sent: SentLog) -> None:
        host, _, port = listen.rpartition(":")
        super().__init__((host, int(port)), handler)  # port 0 picks a free port
        self.url = f"http://{host}:{self.server_address[1]}"
        self.send_secret = secrets.token_urlsafe(32)  # new at each start
        self.sent = sent


class AdapterHandler(BaseHTTPRequestHandler):
    """The adapter's side of the protocol: gated calls these three endpoints."""

    server: AdapterServer

    def do_GET(self) -> None:
        if self.path != "/health":
            self.answer(404, {"error": "not found"})
        elif self.authorized():
            self.answer(200, {"status": "ok"})

    def do_POST(self) -> None:
        route = {"/send": self.send, "/typing": self.typing}.get(self.path)
        if route is None:
            self.answer(404, {"error": "not found"})
            return
        if not self.authorized():  # before a byte of the body is read
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            chat = str(body["chat_jid"])
        except (ValueError, KeyError, TypeError):
            # A 4xx tells gated not to retry: this call can never succeed.
            self.answer(400, {"error": "expected a JSON object with chat_jid"})
            return
        route(chat, body)

    def authorized(self) -> bool:
        """gated sends our send secret; anyone else gets a 401."""
        given = self.headers.get("Authorization", "").encode()
        if hmac.compare_digest(given, f"Bearer {self.server.send_secret}".encode()):
            return True
        self.answer(401, {"error": "missing or wrong send secret", "field": "Authorization"})
        return False

    def send(self, chat: str, msg: dict[str, Any]) -> None:
        text, part, parts = str(msg.get("text", "")), msg.get("part", 1), msg.get("parts", 1)
        if len(text) > MAX_TEXT:
            # Never cut a reply silently: gated splits to our max_text, so this is a bug there.
            self.answer(
                413,
                {"error": f"text: {len(text)} characters; max_text is {MAX_TEXT}", "field": "text"},
            )
            return
        key = str(msg.get("idempotency_key") or f"{msg.get('id')}:{part}")
        with self.server.sent.lock:
            earlier = self.server.sent.get(key)
            if earlier is not None:  # a repeat (gated retried after a crash): shown once only
                self.answer(200, {"remote_id": earlier, "duplicate": True})
                return
            # A real adapter calls its platform here and keeps the platform's message id.
            counter = f" ({part}/{parts})" if parts != 1 else ""
            print(f"[{chat}]{counter} {text}", flush=True)
            remote_id = f"term-{uuid.uuid4().hex[:12]}"
            self.server.sent.add(key, remote_id)
        self.answer(200, {"remote_id": remote_id})

    def typing(self, chat: str, body: dict[str, Any]) -> None:
        print(f"[{chat}] (typing…)", file=sys.stderr, flush=True)
        self.answer(200, {"ok": True})

    def answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the terminal for the chat


def registration(url: str, send_secret: str) -> dict[str, Any]:
    """What we tell gated: where we are, our secret, what our platform can do."""
    return {
        "name": CHANNEL,
        "url": url,
        "protocol": "1.1",
        "send_secret": send_secret,
        "capabilities": CAPABILITIES,
    }


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, str]:
    """The flags and the channel secret; exit 2 with one line when either is wrong."""
    p = argparse.ArgumentParser(prog="switchboard-adapter-example", description=__doc__)
    p.add_argument("--gated", default="http://127.0.0.1:8700", help="gated's channel API URL")
    p.add_argument("--listen", default="127.0.0.1:8701", help="HOST:PORT to serve /send on")
    p.add_argument("--user", default=os.environ.get("USER") or "me", help="your name")
    p.add_argument(
        "--state-dir",
        type=Path,
        default=Path("data/term"),
        help="where the replies already shown are remembered; default ./data/term",
    )
    args = p.parse_args(argv)
    if not args.gated.startswith(("http://", "https://")):
        p.error(f"--gated must be an http(s) URL, got {args.gated!r}")
    if not args.listen.rpartition(":")[2].isdigit():
        p.error(f"--listen must be HOST:PORT, got {args.listen!r}")
    secret = os.environ.get("SWITCHBOARD_CHANNEL_SECRET")
    if not secret:
        p.error("set SWITCHBOARD_CHANNEL_SECRET (the secret gated was started with)")
    return args, secret


def start(
    args: argparse.Namespace, secret: str, handler: type[BaseHTTPRequestHandler]
) -> tuple[AdapterServer, Gated]:
    """Serve gated's calls on a thread, then register (trying until gated answers)."""
    args.state_dir.mkdir(parents=True, exist_ok=True)
    server = AdapterServer(args.listen, handler, SentLog(args.state_dir / "sent.db"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    gated = Gated(args.gated, secret, registration(server.url, server.send_secret))
    gated.register()
    print(f"adapter at {server.url}; chatting as {CHANNEL}:{args.user}", file=sys.stderr)
    return server, gated


def message(user: str, line: str) -> dict[str, Any]:
    """One typed line as gated's POST /v1/messages body; a fresh id, so a retry is harmless."""
    return {
        "chat_jid": f"{CHANNEL}:{user}",
        "id": uuid.uuid4().hex,
        "content": line.rstrip("\n"),
        "sender": user,
        "sender_name": user,
    }


def chat(gated: Gated, user: str, lines: Iterable[str]) -> None:
    """Each line typed becomes a message, posted in order, each until gated stored it."""
    for line in lines:
        if not line.strip():
            continue
        try:
            gated.post(message(user, line))
        except urllib.error.HTTPError as exc:
            print(f"error: gated refused the message: {exc.read().decode()}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args, secret = parse_args(argv)
    try:
        server, gated = start(args, secret, AdapterHandler)
        print("Ctrl-D to quit", file=sys.stderr)
        chat(gated, args.user, sys.stdin)
    except urllib.error.HTTPError as exc:
        print(f"error: gated refused the registration: {exc.code} {exc.reason}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
