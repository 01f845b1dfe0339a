"""The contract between the delivery worker and a channel's way of sending (adapter HTTP, SMTP)."""

from __future__ import annotations

from typing import Protocol

from store import OutboxItem


class ChannelSender(Protocol):
    """Delivers one claimed outbox item; returns the channel's id for it (or None).

    Raises `gated.errors.DeliveryError` on failure (`permanent=True` when a retry cannot help).
    """

    def send(self, item: OutboxItem) -> str | None: ...
