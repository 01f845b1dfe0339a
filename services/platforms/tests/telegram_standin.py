"""A stand-in for Telegram's Bot API cloud, run as its own process (`python telegram_standin.py
--token T`): getMe, getUpdates (offset confirms, timeout long-polls), sendMessage (MarkdownV2
checked: unbalanced entities and unescaped reserved characters are a 400 "can't parse
entities"), sendDocument (multipart), getFile and the file download path, sendChatAction, and a
429 with parameters.retry_after on demand. Shapes as Telegram documents them: every answer is
{"ok": true, "result": ...} or {"ok": false, "error_code", "description"[, "parameters"]}.

The test drives it under /_test/: POST update (one update's message or edited_message; a
message_id of null is given the chat's next one), POST file (bytes -> a file_id), POST limit
({"method", "times", "retry_after"}), POST hold and POST release ({"method"}: from a hold to its
release, calls of the method wait unanswered, each recorded with "held": true as it arrives),
GET sent (every call the bot made, in order). `TelegramStandin` starts it (`serve --token T
--port-file F`) and wraps those calls; `say` is the command line of the conformance kit:
`python telegram_standin.py say --control URL TEXT [--file PATH] [--chat ID]`."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import mimetypes
import time
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import httpx
from aiohttp import web
from standin_process import StandinProcess, serve_app

BOT_ID: Final = 5550001
BOT_USERNAME: Final = "switchboard_test_bot"
RESERVED: Final = set("_*[]()~`>#+-=|{}.!")
ENTITY_NAMES: Final = {
    "*": "Bold",
    "_": "Italic",
    "__": "Underline",
    "~": "Strikethrough",
    "||": "Spoiler",
    "[": "TextUrl",
}


def markdown_v2_error(text: str) -> str | None:
    """Why Telegram would refuse `text` as MarkdownV2 (None when it parses): unescaped
    reserved characters and unclosed entities, the cases a reply formatter can get wrong."""
    data = text
    stack: list[tuple[str, int]] = []
    i = 0
    while i < len(data):
        c = data[i]
        if c == "\\":
            if i + 1 >= len(data):
                return "Character '\\' is reserved and must be escaped with the preceding '\\'"
            i += 2
            continue
        if c == "`":
            fence = "```" if data.startswith("```", i) else "`"
            end = i + len(fence)
            while end < len(data) and not data.startswith(fence, end):
                end += 2 if data[end] == "\\" else 1
            if end >= len(data):
                kind = "Pre" if fence == "```" else "Code"
                return f"Can't find end of {kind} entity at byte offset {len(data[:i].encode())}"
            i = end + len(fence)
            continue
        marker = None
        if c == "_" and data.startswith("__", i):
            marker = "__"
        elif c == "|" and data.startswith("||", i):
            marker = "||"
        elif c in "*_~":
            marker = c
        if marker is not None:
            if stack and stack[-1][0] == marker:
                stack.pop()
            elif any(m == marker for m, _ in stack):
                m, at = stack[-1]
                return f"Can't find end of {ENTITY_NAMES[m]} entity at byte offset {at}"
            else:
                stack.append((marker, len(data[:i].encode())))
            i += len(marker)
            continue
        if c == "[":
            stack.append(("[", len(data[:i].encode())))
            i += 1
            continue
        if c == "]" and stack and stack[-1][0] == "[":
            stack.pop()
            if not data.startswith("(", i + 1):
                return "Character ']' is reserved and must be escaped with the preceding '\\'"
            end = data.find(")", i + 2)
            if end < 0:
                return "Can't find end of a URL at byte offset " + str(len(data[:i].encode()))
            i = end + 1
            continue
        if c in RESERVED:
            return f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
        i += 1
    if stack:
        m, at = stack[-1]
        return f"Can't find end of {ENTITY_NAMES[m]} entity at byte offset {at}"
    return None


class Cloud:
    """The platform's state: pending updates, files, chats' message counters, what was sent."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self.next_update_id = 1000
        self.changed = asyncio.Condition()
        self.files: dict[str, tuple[bytes, str]] = {}  # file_id -> (data, file_path)
        self.next_message_id: dict[int, int] = {}
        self.calls: list[dict[str, Any]] = []
        self.limits: dict[str, tuple[int, int]] = {}  # method -> (times, retry_after)
        self.holds: dict[str, asyncio.Event] = {}  # method -> set when released

    def bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Switchboard", "username": BOT_USERNAME}

    def message(self, chat_id: int, extra: dict[str, Any]) -> dict[str, Any]:
        n = self.next_message_id.get(chat_id, 9000) + 1
        self.next_message_id[chat_id] = n
        chat_type = "private" if chat_id > 0 else "supergroup"
        return {
            "message_id": n,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type},
            "from": self.bot_user(),
            **extra,
        }


def ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def fail(code: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


async def params_of(request: web.Request) -> dict[str, Any]:
    """The method's parameters, however the client sent them (query, JSON, form, multipart);
    files in multipart as {"filename", "data"}. JSON-encoded values are decoded."""
    found: dict[str, Any] = dict(request.query)
    kind = request.content_type
    if kind == "application/json":
        body = await request.json()
        found.update(body if isinstance(body, dict) else {})
    elif kind == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            data = await part.read()
            if part.filename is not None:
                found[part.name] = {"filename": part.filename, "data": bytes(data)}
            else:
                found[part.name] = data.decode()
    elif request.can_read_body:
        found.update(await request.post())
    for key, value in list(found.items()):
        if isinstance(value, str) and value[:1] in "{[":
            with contextlib.suppress(ValueError):
                found[key] = json.loads(value)
    return found


def app_for(cloud: Cloud) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)

    async def method(request: web.Request) -> web.Response:
        if request.match_info["token"] != cloud.token:
            return fail(401, "Unauthorized")
        name = request.match_info["method"]
        params = await params_of(request)
        times, retry_after = cloud.limits.get(name, (0, 0))
        if times > 0:
            cloud.limits[name] = (times - 1, retry_after)
            cloud.calls.append(
                {"method": name, "limited": True, "at": time.monotonic(), **_printable(params)}
            )
            return fail(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        hold = cloud.holds.get(name)
        if hold is not None:
            cloud.calls.append(
                {"method": name, "held": True, "at": time.monotonic(), **_printable(params)}
            )
            await hold.wait()
        handler = HANDLERS.get(name)
        if handler is None:
            return fail(404, "Not Found")
        return await handler(cloud, params)

    async def download(request: web.Request) -> web.Response:
        if request.match_info["token"] != cloud.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for data, file_path in cloud.files.values():
            if file_path == path:
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404)

    async def inject(request: web.Request) -> web.Response:
        body = await request.json()
        message = body.get("message")
        if isinstance(message, dict) and message.get("message_id") is None:
            message["message_id"] = cloud.message(message["chat"]["id"], {})["message_id"]
        async with cloud.changed:
            update = {"update_id": cloud.next_update_id, **body}
            cloud.next_update_id += 1
            cloud.updates.append(update)
            cloud.changed.notify_all()
        return web.json_response({"update_id": update["update_id"]})

    async def add_file(request: web.Request) -> web.Response:
        data = await request.read()
        file_id = f"F{len(cloud.files) + 1}"
        cloud.files[file_id] = (data, f"documents/file_{len(cloud.files) + 1}")
        return web.json_response(
            {"file_id": file_id, "file_unique_id": f"U{file_id}", "size": len(data)}
        )

    async def limit(request: web.Request) -> web.Response:
        body = await request.json()
        cloud.limits[body["method"]] = (int(body["times"]), int(body["retry_after"]))
        return web.json_response({"ok": True})

    async def hold(request: web.Request) -> web.Response:
        cloud.holds.setdefault((await request.json())["method"], asyncio.Event())
        return web.json_response({"ok": True})

    async def release(request: web.Request) -> web.Response:
        held = cloud.holds.pop((await request.json())["method"], None)
        if held is not None:
            held.set()
        return web.json_response({"ok": True})

    async def sent(request: web.Request) -> web.Response:
        return web.json_response(cloud.calls)

    app.router.add_route("*", "/bot{token}/{method}", method)
    app.router.add_get("/file/bot{token}/{path:.+}", download)
    app.router.add_post("/_test/update", inject)
    app.router.add_post("/_test/file", add_file)
    app.router.add_post("/_test/limit", limit)
    app.router.add_post("/_test/hold", hold)
    app.router.add_post("/_test/release", release)
    app.router.add_get("/_test/sent", sent)
    return app


def _printable(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict) and isinstance(value.get("data"), bytes):
            out[key] = {
                "filename": value["filename"],
                "data": base64.b64encode(value["data"]).decode(),
            }
        else:
            out[key] = value
    return out


def _int(value: Any, default: int = 0) -> int:
    if value in (None, "", "null"):
        return default
    return int(value)


async def get_me(cloud: Cloud, params: dict[str, Any]) -> web.Response:
    return ok(
        {
            **cloud.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
    )


async def get_updates(cloud: Cloud, params: dict[str, Any]) -> web.Response:
    offset = _int(params.get("offset"))
    timeout = min(_int(params.get("timeout")), 50)
    limit = _int(params.get("limit"), 100) or 100
    cloud.calls.append({"method": "getUpdates", "offset": offset, "at": time.monotonic()})
    deadline = time.monotonic() + timeout
    async with cloud.changed:
        if offset:
            cloud.updates = [u for u in cloud.updates if u["update_id"] >= offset]
        while not cloud.updates and time.monotonic() < deadline:
            try:
                await asyncio.wait_for(cloud.changed.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        return ok(cloud.updates[:limit])


def _thread_and_reply(params: dict[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    thread = params.get("message_thread_id")
    if thread not in (None, ""):
        extra["message_thread_id"] = int(thread)
        extra["is_topic_message"] = True
    return extra


async def send_message(cloud: Cloud, params: dict[str, Any]) -> web.Response:
    chat_id = _int(params.get("chat_id"))
    text = str(params.get("text", ""))
    parse_mode = params.get("parse_mode")
    record = {"method": "sendMessage", "at": time.monotonic(), **_printable(params)}
    if not text:
        cloud.calls.append({**record, "refused": "message text is empty"})
        return fail(400, "Bad Request: message text is empty")
    if parse_mode == "MarkdownV2":
        problem = markdown_v2_error(text)
        if problem:
            cloud.calls.append({**record, "refused": problem})
            return fail(400, f"Bad Request: can't parse entities: {problem}")
    msg = cloud.message(chat_id, {"text": text, **_thread_and_reply(params)})
    cloud.calls.append({**record, "message_id": msg["message_id"]})
    return ok(msg)


async def send_document(cloud: Cloud, params: dict[str, Any]) -> web.Response:
    chat_id = _int(params.get("chat_id"))
    doc = params.get("document")
    if isinstance(doc, str) and doc.startswith("attach://"):
        doc = params.get(doc.removeprefix("attach://"))
    if not isinstance(doc, dict):
        return fail(400, "Bad Request: there is no document in the request")
    file_id = f"D{len(cloud.files) + 1}"
    cloud.files[file_id] = (doc["data"], f"documents/{file_id}")
    msg = cloud.message(
        chat_id,
        {
            "document": {
                "file_id": file_id,
                "file_unique_id": f"U{file_id}",
                "file_name": doc["filename"],
                "file_size": len(doc["data"]),
            },
            **_thread_and_reply(params),
        },
    )
    cloud.calls.append(
        {
            "method": "sendDocument",
            "at": time.monotonic(),
            "message_id": msg["message_id"],
            **_printable(params),
            "document": _printable({"d": doc})["d"],
        }
    )
    return ok(msg)


async def get_file(cloud: Cloud, params: dict[str, Any]) -> web.Response:
    file_id = str(params.get("file_id", ""))
    cloud.calls.append({"method": "getFile", "at": time.monotonic(), "file_id": file_id})
    if file_id not in cloud.files:
        return fail(400, "Bad Request: invalid file_id")
    data, path = cloud.files[file_id]
    return ok(
        {
            "file_id": file_id,
            "file_unique_id": f"U{file_id}",
            "file_size": len(data),
            "file_path": path,
        }
    )


async def send_chat_action(cloud: Cloud, params: dict[str, Any]) -> web.Response:
    cloud.calls.append({"method": "sendChatAction", "at": time.monotonic(), **_printable(params)})
    return ok(True)


HANDLERS = {
    "getMe": get_me,
    "getUpdates": get_updates,
    "sendMessage": send_message,
    "sendDocument": send_document,
    "getFile": get_file,
    "sendChatAction": send_chat_action,
}


class TelegramStandin(StandinProcess):
    """The stand-in process seen from a test."""

    platform = "Telegram"
    script = __file__

    def __init__(self, token: str, workdir: Path) -> None:
        super().__init__(workdir)
        self.token = token

    @property
    def api_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def file_url(self) -> str:
        return f"{self.url}/file/bot"

    def serve_args(self) -> list[str]:
        return ["--token", self.token]

    @classmethod
    def at(cls, url: str) -> TelegramStandin:
        """The stand-in another process started, at `url`."""
        standin = cls("", Path())
        standin.port = urlsplit(url).port or 0
        return standin

    def user_message(
        self, chat_id: int, text: str | None = None, *, user_id: int = 4242, **extra: Any
    ) -> int:
        """Inject a user's message update; its update_id."""
        chat: dict[str, Any] = (
            {"id": chat_id, "type": "private", "first_name": "Alice"}
            if chat_id > 0
            else {"id": chat_id, "type": "supergroup", "title": "Team", "is_forum": True}
        )
        message: dict[str, Any] = {
            # None: the stand-in numbers it (say runs in a process of its own each time).
            "message_id": extra.pop("message_id") if "message_id" in extra else self._next_id(),
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": "Alice"},
            **extra,
        }
        if text is not None:
            message["text"] = text
        return self.update({"message": message})

    _counter = 100

    def _next_id(self) -> int:
        TelegramStandin._counter += 1
        return TelegramStandin._counter

    def update(self, body: dict[str, Any]) -> int:
        resp = httpx.post(f"{self.url}/_test/update", json=body, timeout=10)
        resp.raise_for_status()
        return int(resp.json()["update_id"])

    def add_file(self, data: bytes) -> str:
        resp = httpx.post(f"{self.url}/_test/file", content=data, timeout=10)
        resp.raise_for_status()
        return str(resp.json()["file_id"])

    def limit(self, method: str, times: int, retry_after: int) -> None:
        body = {"method": method, "times": times, "retry_after": retry_after}
        httpx.post(f"{self.url}/_test/limit", json=body, timeout=10).raise_for_status()

    def hold(self, method: str) -> None:
        """Leave calls of `method` unanswered (recorded as "held") until `release(method)`."""
        httpx.post(f"{self.url}/_test/hold", json={"method": method}, timeout=10).raise_for_status()

    def release(self, method: str) -> None:
        """Answer the held calls of `method`, and hold no more."""
        resp = httpx.post(f"{self.url}/_test/release", json={"method": method}, timeout=10)
        resp.raise_for_status()

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = httpx.get(f"{self.url}/_test/sent", timeout=10).json()
        return [c for c in found if method is None or c["method"] == method]

    def messages(self) -> list[dict[str, Any]]:
        """The sendMessage calls Telegram accepted."""
        return [c for c in self.calls("sendMessage") if "message_id" in c]


def say(control: str, text: str, file: Path | None, chat_id: int) -> None:
    """A user says `text` in the chat (with `file` as a document captioned `text`), as the
    conformance kit needs; prints the update id."""
    standin = TelegramStandin.at(control)
    if file is None:
        print(standin.user_message(chat_id, text, message_id=None))
        return
    data = file.read_bytes()
    document = {
        "file_id": standin.add_file(data),
        "file_unique_id": f"say-{file.name}",
        "file_name": file.name,
        "mime_type": mimetypes.guess_type(file.name)[0] or "application/octet-stream",
        "file_size": len(data),
    }
    print(standin.user_message(chat_id, None, message_id=None, caption=text, document=document))


def main() -> None:
    parser = argparse.ArgumentParser(description="A stand-in for Telegram's Bot API.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser(
        "serve", help="serve on 127.0.0.1 (a free port, written to --port-file)"
    )
    serve_p.add_argument("--token", required=True)
    serve_p.add_argument("--port-file", type=Path, required=True)
    say_p = sub.add_parser("say", help="make a user send TEXT to the bot")
    say_p.add_argument("--control", required=True, metavar="URL", help="the stand-in's base URL")
    say_p.add_argument("--file", type=Path, default=None, help="a file to send as a document")
    say_p.add_argument("--chat", type=int, default=42, help="the chat id; default 42")
    say_p.add_argument("text")
    args = parser.parse_args()
    if args.command == "say":
        say(args.control, args.text, args.file, args.chat)
        return

    serve_app(lambda: app_for(Cloud(args.token)), args.port_file)


if __name__ == "__main__":
    main()
