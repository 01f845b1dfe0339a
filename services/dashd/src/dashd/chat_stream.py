"""A chat's live stream as Server-Sent Events, shared by the operators' web chat and the public
share page: each message rendered once by the page's row template for every stream it goes to,
`message` events (id = seq) and `typing` events, from the live hub."""

from __future__ import annotations

import collections
import contextlib
from collections.abc import AsyncGenerator
from typing import Final

import store
from jinja2 import Template

from dashd import streams
from dashd.live import Guard, Hub, MessageEvent

ROWS_KEPT: Final = 1000  # rendered stream events kept for the streams of other viewers


class ChatRows:
    """Each message's event bytes rendered once by `row` for all the streams it goes to (the
    newest ROWS_KEPT, by seq: a stored message never changes)."""

    def __init__(self, row: Template) -> None:
        self.row = row
        self._done: collections.OrderedDict[int, bytes] = collections.OrderedDict()

    def event(self, message: store.Message) -> bytes:
        done = self._done.get(message.seq)
        if done is None:
            html = self.row.render(m=message)
            done = self._done[message.seq] = streams.encode(
                html, event="message", id=str(message.seq)
            )
            if len(self._done) > ROWS_KEPT:
                self._done.popitem(last=False)
        return done


TYPING: Final = {
    True: streams.encode("on", event="typing"),
    False: streams.encode("off", event="typing"),
}


async def chat_events(
    hub: Hub, rows: ChatRows, jid: str, after: int, lifetime_s: float, guard: Guard
) -> AsyncGenerator[bytes, None]:
    """A chat's stream: `message` events (id = seq, data = the row template's rendering,
    escaped by the template) and `typing` events (data `on` or `off`, no id); it ends with the
    subscription (lifetime, guard, hub stop)."""
    yield streams.RETRY
    subscription = hub.subscribe(jid, after, lifetime_s=lifetime_s, guard=guard)
    async with contextlib.aclosing(subscription) as events:
        async for event in events:
            if isinstance(event, MessageEvent):
                yield rows.event(event.message)
            else:
                yield TYPING[event.typing]
