"""The interfaces between the kit and one platform: what a platform implements (`Platform`)
and what the kit hands it (`Sink`, with the adapter's persisted `State`)."""

from __future__ import annotations

from typing import Protocol

from adapterkit.model import Capabilities, Inbound, Outbound


class State(Protocol):
    """Persisted key/value of this adapter (a sqlite file in --state-dir)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None:
        """Durable on return (offsets, sync tokens)."""


class Sink(Protocol):
    """Where a platform feeds what it receives."""

    @property
    def state(self) -> State:
        """This adapter's persisted key/value."""

    async def deliver(self, msg: Inbound) -> None:
        """Upload the files, post to gated, retry until stored; raises `Stopping` if the adapter
        stops first (the platform must then not advance its offset)."""


class Platform(Protocol):
    name: str  # the channel name = the jid prefix ("tg", "slack", ...)
    capabilities: Capabilities

    async def start(self, sink: Sink) -> None:
        """Connect (raise TokenRejected), then feed inbound to `sink` in tasks of its own."""

    async def send(self, msg: Outbound) -> str | None:
        """Post one part; the platform's message id. Raise TemporaryFailure/PermanentFailure."""

    async def typing(self, chat_jid: str, thread_id: str | None) -> None: ...

    async def health(self) -> str | None:
        """None when fine, else the problem in a few words."""

    async def stop(self) -> None: ...
