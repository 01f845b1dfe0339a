"""How long a client may take to send a request: uvicorn bounds only the idle time between
requests, so a connection trickling one byte a second would stay open for ever. The protocol
class here gives each request (headers and body) a deadline, then answers 408 and closes."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Final

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

# From a request's first byte (or the connection's opening) to the end of its body.
REQUEST_READ_TIMEOUT_S: Final = 10.0
# Idle time allowed between two requests on one connection (uvicorn's own timer).
KEEP_ALIVE_S: Final = 5
MAX_HEADER_BYTES: Final = 16 * 1024
TIMEOUT_BODY: Final = json.dumps(
    {"error": "the request was not received in time", "field": None}, separators=(",", ":")
).encode()
TIMEOUT_RESPONSE: Final = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(TIMEOUT_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + TIMEOUT_BODY
)


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline on receiving each whole request."""

    read_timeout_s: float = REQUEST_READ_TIMEOUT_S

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self._arm()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # the whole request is in (or the connection is over)

    def on_response_complete(self) -> None:
        self._disarm()
        super().on_response_complete()

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.read_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            # We stopped reading (the app is slow to take the body): not the client's fault.
            self._arm()
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            self.transport.close()
            return
        host, port = self.client or ("?", 0)
        log.info(
            "request not received in %.0f s, 408 client=%s:%d", self.read_timeout_s, host, port
        )
        if cycle is not None:
            # The app waiting for the body sees a disconnect; whatever it answers is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.write(TIMEOUT_RESPONSE)
        self.transport.close()


def server_options(read_timeout_s: float = REQUEST_READ_TIMEOUT_S) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.Config(...)`: the deadline protocol and header limits."""
    protocol = type(
        "DeadlineH11Protocol",
        (DeadlineH11Protocol,),
        {"read_timeout_s": read_timeout_s},
    )
    return {
        "http": protocol,
        "timeout_keep_alive": KEEP_ALIVE_S,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
    }
