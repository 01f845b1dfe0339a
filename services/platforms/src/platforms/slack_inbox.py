"""The Slack adapter's durable inbox: Events API payloads written to the adapter's State before
their envelope is acked, delivered to gated in order, and forgotten only once stored. Slack
gives an app 3 seconds to ack; gated may be down for longer, so nothing waits for it."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

from adapterkit import State

HEAD_KEY: Final = "slack.inbox.head"  # the next entry to deliver
TAIL_KEY: Final = "slack.inbox.tail"  # the next entry to write
SLOT_KEY: Final = "slack.inbox.slot.{}"
# Entries held at most (a ring of State keys): past it an envelope is not acked, so Slack
# redelivers it later instead of the adapter growing without bound while gated is away.
RING: Final = 10_000


class SlackInbox:
    """A FIFO of payloads on `State` keys; one reader (the delivery task), one writer."""

    def __init__(self, state: State, ring: int = RING) -> None:
        self.state = state
        self.ring = ring
        self.changed = asyncio.Event()

    def _int(self, key: str) -> int:
        return int(self.state.get(key) or 0)

    def __len__(self) -> int:
        return self._int(TAIL_KEY) - self._int(HEAD_KEY)

    def append(self, payload: dict[str, Any]) -> bool:
        """Persist `payload` (durable on return); False when the ring is full."""
        tail = self._int(TAIL_KEY)
        if tail - self._int(HEAD_KEY) >= self.ring:
            return False
        # The slot first: a crash before the tail moves leaves the envelope unacked, and
        # Slack's redelivery writes it again.
        self.state.set(SLOT_KEY.format(tail % self.ring), json.dumps(payload))
        self.state.set(TAIL_KEY, str(tail + 1))
        self.changed.set()
        return True

    def peek(self) -> dict[str, Any] | None:
        """The oldest undelivered payload."""
        head = self._int(HEAD_KEY)
        if head >= self._int(TAIL_KEY):
            return None
        raw = self.state.get(SLOT_KEY.format(head % self.ring)) or "{}"
        found = json.loads(raw)
        return found if isinstance(found, dict) else {}

    def advance(self) -> None:
        """The oldest payload is stored at gated (or dropped for good): forget it."""
        head = self._int(HEAD_KEY)
        self.state.set(HEAD_KEY, str(head + 1))
        self.state.set(SLOT_KEY.format(head % self.ring), "")

    async def wait(self) -> None:
        """Until something may have been appended."""
        if self.peek() is None:
            self.changed.clear()
            if self.peek() is None:
                await self.changed.wait()
