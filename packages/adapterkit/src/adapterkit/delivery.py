"""The `Sink` the kit hands a platform: each inbound message has its files checked against the
cap and uploaded, then is posted to gated, retried until stored (safe: gated is idempotent on
chat_jid + id). Only then does `deliver` return, so the platform advances its offset after."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from store import log_safe

from adapterkit.errors import RegistrationRefused, Stopping
from adapterkit.gated_client import GatedClient, Refused
from adapterkit.model import Inbound, InFile
from adapterkit.payloads import inbound_payload
from adapterkit.state import SqliteState

log = logging.getLogger(__name__)


class Delivery:
    """Sink: `deliver(msg)`, and `state`, the adapter's persisted key/value."""

    def __init__(
        self,
        client: GatedClient,
        state: SqliteState,
        *,
        max_file_bytes: int,
        on_fatal: Callable[[str], None],
    ) -> None:
        self.client = client
        self.state = state
        self.max_file_bytes = max_file_bytes
        self.on_fatal = on_fatal

    async def deliver(self, msg: Inbound) -> None:
        where = f"chat={log_safe(msg.chat_jid)} id={log_safe(msg.id)}"
        try:
            attachments = [a for f in msg.files if (a := await self._attachment(f, where))]
            body = inbound_payload(msg, attachments)
            try:
                seq = await self.client.post_message(body)
            except Refused as exc:
                # A message gated will never take (it names the field): retrying cannot help,
                # and holding it would stop every later message of the platform.
                log.error(
                    "message refused by gated, dropped %s status=%d error=%s",
                    where,
                    exc.status,
                    log_safe(exc.error),
                )
                return
        except RegistrationRefused as exc:
            self.on_fatal(str(exc))
            raise Stopping(str(exc)) from None
        log.info(
            "in %s verb=%s seq=%d files=%d%s",
            where,
            msg.verb,
            seq,
            len(attachments),
            f" thread={log_safe(msg.thread_id)}" if msg.thread_id else "",
        )

    async def _attachment(self, file: InFile, where: str) -> dict[str, Any] | None:
        """The attachment entry for one file: uploaded (v1.1), metadata only (v1.0), or None
        (over the cap, or refused by gated: the message still goes)."""
        size = len(file.data)
        name = log_safe(file.name)
        if size > self.max_file_bytes:
            log.warning(
                "file over the cap, not uploaded %s file=%s size=%d cap=%d",
                where,
                name,
                size,
                self.max_file_bytes,
            )
            return None
        try:
            entry = await self.client.upload(file)
        except Refused as exc:
            log.warning(
                "file refused by gated %s file=%s status=%d error=%s",
                where,
                name,
                exc.status,
                log_safe(exc.error),
            )
            return None
        if entry is None:
            return {"name": file.name, "type": file.type, "size": size}
        return entry
