"""A raw Server-Sent Events client for tests: one HTTP stream read on a thread, parsed as the
EventSource spec says (id, event, data lines; blank line dispatches; comments skipped)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    id: str | None
    data: str
    at: float  # time.monotonic() when it was read


class SseStream:
    """GET `path` on its own connection (the cookies of `client`) and collect its events."""

    def __init__(
        self, client: httpx.Client, path: str, headers: dict[str, str] | None = None
    ) -> None:
        self.http = httpx.Client(
            base_url=client.base_url, cookies=dict(client.cookies.items()), timeout=30
        )
        self.path = path
        self.headers = headers or {}
        self.events: list[Event] = []
        self.status: int | None = None
        self.ended = threading.Event()
        self._sock: socket.socket | None = None
        self.opened = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self.opened.wait(10), f"{path}: no response"

    def _read(self) -> None:
        kind, ident, data = "message", None, []
        try:
            with self.http.stream("GET", self.path, headers=self.headers) as r:
                self.status = r.status_code
                self._sock = r.extensions["network_stream"].get_extra_info("socket")
                self.opened.set()
                if r.status_code != 200:
                    return
                for line in r.iter_lines():
                    if not line:
                        if data:
                            with self._cond:
                                self.events.append(
                                    Event(kind, ident, "\n".join(data), time.monotonic())
                                )
                                self._cond.notify_all()
                        kind, data = "message", []
                        continue
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "id":
                        ident = value
                    elif name == "event":
                        kind = value
                    elif name == "data":
                        data.append(value)
        except (httpx.HTTPError, RuntimeError):
            pass  # closed by the test, or by the server going away
        finally:
            self.opened.set()
            self.ended.set()
            with self._cond:
                self._cond.notify_all()

    def of(self, kind: str) -> list[Event]:
        with self._cond:
            return [e for e in self.events if e.type == kind]

    def wait(self, pred: Callable[[list[Event]], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred(self.events):
                left = deadline - time.monotonic()
                if left <= 0 or self.ended.is_set():
                    if pred(self.events):
                        return
                    raise AssertionError(f"timed out waiting for {what}: {self.events[-5:]}")
                self._cond.wait(min(left, 0.2))

    def close(self) -> None:
        """Drop the connection (as a browser tab closing or a network cut would)."""
        if self._sock is not None and not self.ended.is_set():
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)
        self.http.close()
