"""The share page's live stream `/s/<token>/events`: Server-Sent Events of the visitor's own
chat only (from their signed cookie; none, a forged one or a dead token: the page's 404), from
the live hub, ended at once when the link is rotated or revoked, with a lifetime and a cap on
open streams per visitor and per client address."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Final

from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dashd import streams
from dashd.chat_stream import ChatRows, chat_events
from dashd.context import client_ip
from dashd.live import Guard, Hub
from dashd.pages.share import Visit, public

log = logging.getLogger(__name__)

STREAMS_PER_VISITOR: Final = 4  # open streams of one visitor's chat (tabs, frames)
STREAMS_PER_ADDRESS: Final = 32  # open streams from one client address, all visitors
LIFETIME_S: Final = 15 * 60.0  # then EventSource reconnects, and the link and cookie are checked
RETRY_AFTER_S: Final = 60


class StreamSlots:
    """Open streams per visitor and per client address in this process, each under its cap."""

    def __init__(self, per_visitor: int, per_address: int) -> None:
        self.per_visitor, self.per_address = per_visitor, per_address
        self._visitors: Counter[str] = Counter()
        self._addresses: Counter[str] = Counter()
        self._lock = threading.Lock()

    def take(self, visitor: str, address: str) -> str | None:
        """One slot for a new stream; None when taken, else why it is refused."""
        with self._lock:
            if self._visitors[visitor] >= self.per_visitor:
                return (
                    f"This chat already has {self.per_visitor} live streams open (the limit): "
                    "close another tab or window of it, then reload."
                )
            if self._addresses[address] >= self.per_address:
                return (
                    f"Your network address already has {self.per_address} live streams open "
                    "(the limit): close some chat tabs, then reload."
                )
            self._visitors[visitor] += 1
            self._addresses[address] += 1
            return None

    def give_back(self, visitor: str, address: str) -> None:
        with self._lock:
            for counts, key in ((self._visitors, visitor), (self._addresses, address)):
                counts[key] -= 1
                if counts[key] <= 0:
                    del counts[key]

    def open_streams(self, visitor: str) -> int:
        with self._lock:
            return self._visitors[visitor]


def _share_events(visit: Visit) -> Response:
    """The visitor's chat: `message` events (id = seq, data = a `_share_message.html` row) and
    `typing` events, resumed after Last-Event-ID (else `?after=`)."""
    app = visit.request.app.state
    hub: Hub = app.hub
    after = streams.resume_after(visit.request, hub.last_seq)
    slots: StreamSlots = app.share_streams
    address = client_ip(visit.request)
    jid = visit.jid
    refused = slots.take(jid, address)
    if refused is not None:
        log.info("share stream refused folder=%s ip=%s", visit.link.folder, address)
        return PlainTextResponse(
            refused + "\n", status_code=429, headers={"retry-after": str(RETRY_AFTER_S)}
        )
    rows: ChatRows = app.share_rows
    guard = Guard("share-link", visit.token_hash)
    return streams.EventStream(
        lambda: chat_events(hub, rows, jid, after, LIFETIME_S, guard),
        on_close=lambda: slots.give_back(jid, address),
    )


share_events = public(_share_events, known_visitor=True)

ROUTES = [Route("/s/{token}/events", share_events, methods=["GET"])]
