"""The bytes of an outbound message's stored files, for the senders (email parts, adapters'
/send); a file missing from the store is a permanent delivery error."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import store
from store import blobs

from gated.errors import DeliveryError


def stored_files(
    conn: sqlite3.Connection, item: store.OutboxItem
) -> Iterator[tuple[dict[str, Any], bytes]]:
    """Each stored file of the item with its bytes."""
    for entry in blobs.stored_files(item.attachments):
        try:
            data = blobs.blob_path(conn, entry["file"]).read_bytes()
        except OSError as exc:
            reason = f"attachment {entry.get('name')!r} of seq {item.seq} is gone: {exc}"
            raise DeliveryError(reason, permanent=True) from exc
        yield entry, data
