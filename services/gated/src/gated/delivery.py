"""The delivery worker: claims due `outbox` rows and sends each to its channel (adapter
`POST {url}/send`, an in-process sender such as email, or nothing for `web:`/`cli:` chats),
retrying with back-off; after the last attempt the row is dead and the group is told."""

from __future__ import annotations

import base64
import logging
import sqlite3
import threading
import time
from datetime import datetime
from typing import Any, Final

import httpx
import store
from daemonkit.worker import run_steps
from store import liveness, outbox
from store.outbox import clear_parts, parts_done, record_parts_done

from gated.adapters import Channel, channel_for_prefix
from gated.attachments import stored_files
from gated.config import Config
from gated.errors import DeliveryError
from gated.senders import ChannelSender
from gated.split import split_message

log = logging.getLogger(__name__)

# Chats of these channels are read from the db (dashd's web chat, `switchboard chat`).
LOCAL_CHANNELS: Final = frozenset({"web", "cli"})
CLAIM_BATCH: Final = 20
SEND_TIMEOUT_S: Final = 10.0
ERROR_PAUSE_S: Final = 1.0
# Claims whose lease ran out are not visible to next_due_at; look for them this often.
STALE_CLAIM_CHECK_S: Final = 30.0
# Claims of an owner that is gone (store.liveness) are taken back this often.
GONE_OWNER_CHECK_S: Final = 2.0
RETRY_STATUSES: Final = frozenset({408, 425, 429})


class DeliveryWorker:
    """Sends outbound messages; several workers (threads or processes) never send one twice."""

    def __init__(self, config: Config, senders: dict[str, ChannelSender] | None = None):
        self.config = config
        self.senders = dict(senders or {})
        # The process's identity: a worker that finds it gone takes its claims back.
        self.claimer = liveness.me().token
        self._conns = store.ThreadConnections(config.db)
        self._client = httpx.Client(timeout=SEND_TIMEOUT_S)
        self._last_claim = 0.0
        self._last_gone_check = float("-inf")

    @property
    def conn(self) -> sqlite3.Connection:
        """The calling thread's connection (the worker thread's, or a test's)."""
        return self._conns.get()

    def step(self, now: datetime) -> float | None:
        """Deliver everything due at `now`; returns seconds until the next retry is due."""
        if time.monotonic() - self._last_gone_check >= GONE_OWNER_CHECK_S:
            self._last_gone_check = time.monotonic()
            self.release_gone_claims(now)
        if self._due(now) or time.monotonic() - self._last_claim >= STALE_CLAIM_CHECK_S:
            self._last_claim = time.monotonic()
            while True:
                items = store.claim_outbound(self.conn, self.claimer, now=now, limit=CLAIM_BATCH)
                for item in items:
                    self.deliver(item, now)
                if len(items) < CLAIM_BATCH:
                    break
        due = store.next_due_at(self.conn)
        return None if due is None else max(0.0, (store.parse_iso(due) - now).total_seconds())

    def _due(self, now: datetime) -> bool:
        due = store.next_due_at(self.conn)
        return due is not None and store.parse_iso(due) <= now

    def release_gone_claims(self, now: datetime) -> int:
        """Take back the claims of workers that are gone (a gated killed with -9, even while it
        is an unreaped zombie; a pid now used by another process; a silent or replaced instance
        of another host), so their replies go out now rather than after the claim lease."""
        released = outbox.release_gone_claims(self.conn, now=now)
        for r in released:
            log.warning(
                "took back delivery claims rows=%d owner=%s reason=%s", r.rows, r.owner, r.reason
            )
        return sum(r.rows for r in released)

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set: wake on every db change, when a retry falls due, and
        every GONE_OWNER_CHECK_S to take back the claims of workers that are gone."""
        try:
            run_steps(
                "delivery pass",
                self.step,
                stop,
                idle_s=GONE_OWNER_CHECK_S,
                error_wait_s=ERROR_PAUSE_S,
                changes=self.conn,
            )
        finally:
            self.close()

    def close(self) -> None:
        self._client.close()
        self._conns.close()

    def deliver(self, item: store.OutboxItem, now: datetime) -> None:
        """Send one claimed item and settle its outbox row (sent, retry later, or dead)."""
        prefix = store.validate.channel_of(item.chat_jid)
        try:
            remote_id = self._send(prefix, item)
        except DeliveryError as exc:
            self._failed(item, exc.reason, exc.permanent, now)
            return
        except Exception as exc:
            log.exception("unexpected error sending seq=%d chat=%s", item.seq, item.chat_jid)
            self._failed(item, f"unexpected error: {exc!r}", False, now)
            return
        with store.tx(self.conn):
            settled = store.mark_sent(self.conn, item.seq, remote_id)
            clear_parts(self.conn, item.seq)
        if settled:
            log.info("delivered seq=%d chat=%s attempt=%d", item.seq, item.chat_jid, item.attempts)
        else:
            log.warning("delivered seq=%d but the claim had expired", item.seq)

    def _send(self, prefix: str, item: store.OutboxItem) -> str | None:
        if prefix in LOCAL_CHANNELS:
            return None
        sender = self.senders.get(prefix)
        if sender is not None:
            return sender.send(item)
        channel = channel_for_prefix(self.conn, prefix)
        if channel is None:
            raise DeliveryError(
                f"no channel delivers to jid prefix {prefix!r} (chat_jid={item.chat_jid}); "
                "register an adapter for it",
                permanent=True,
            )
        return self._send_parts(channel, item)

    def _send_parts(self, channel: Channel, item: store.OutboxItem) -> str | None:
        """POST each part not yet delivered, recording progress after each one."""
        parts = split_message(item.content, channel.max_message_chars)
        first = parts_done(self.conn, item.seq) if len(parts) > 1 else 0
        remote_id = None
        for index in range(first, len(parts)):
            rid = self._post(channel, item, parts[index], index + 1, len(parts))
            remote_id = remote_id or rid
            if len(parts) > 1:
                record_parts_done(self.conn, item.seq, index + 1)
        return remote_id

    def _post(
        self, channel: Channel, item: store.OutboxItem, text: str, part: int, parts: int
    ) -> str | None:
        payload: dict[str, Any] = {
            "chat_jid": item.chat_jid,
            "id": item.id,
            "text": text,
            "reply_to_id": item.reply_to_id,
            "seq": item.seq,
            "part": part,
            "parts": parts,
        }
        if part == 1 and item.attachments:
            payload["attachments"] = adapter_attachments(self.conn, item)
        url = f"{channel.url.rstrip('/')}/send"
        try:
            resp = self._client.post(url, json=payload)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"adapter {channel.name!r} unreachable at {url}: {exc}") from exc
        if resp.is_success:
            return _remote_id(resp)
        reason = f"adapter {channel.name!r} answered {resp.status_code}: {resp.text[:300]}"
        retry = resp.status_code in RETRY_STATUSES or resp.status_code >= 500
        raise DeliveryError(reason, permanent=not retry)

    def _failed(self, item: store.OutboxItem, reason: str, permanent: bool, now: datetime) -> None:
        with store.tx(self.conn):
            status = store.mark_failed(
                self.conn,
                item.seq,
                reason,
                now=now,
                max_attempts=self.config.max_delivery_attempts,
                permanent=permanent,
            )
            if status == "dead" and item.group_folder:
                store.add_system_message(
                    self.conn,
                    item.group_folder,
                    "gated",
                    "delivery_dead",
                    f"A reply to {item.chat_jid} could not be delivered after "
                    f"{item.attempts} attempt(s) and was given up: {reason}. "
                    f"It began: {item.content[:200]!r}",
                )
        level = logging.ERROR if status == "dead" else logging.WARNING
        log.log(
            level,
            "delivery failed seq=%d chat=%s attempt=%d status=%s error=%s",
            item.seq,
            item.chat_jid,
            item.attempts,
            status,
            reason,
        )


def adapter_attachments(conn: sqlite3.Connection, item: store.OutboxItem) -> list[dict[str, Any]]:
    """The item's stored files for an adapter's /send (with the first part): name, type, size,
    sha256 and the bytes as base64."""
    return [
        {
            "name": entry.get("name"),
            "type": entry.get("type"),
            "size": len(data),
            "sha256": entry["file"],
            "data": base64.b64encode(data).decode("ascii"),
        }
        for entry, data in stored_files(conn, item)
    ]


def _remote_id(resp: httpx.Response) -> str | None:
    """The adapter's optional `{"remote_id": ...}` answer."""
    try:
        body = resp.json()
    except ValueError:
        return None
    rid = body.get("remote_id") if isinstance(body, dict) else None
    return str(rid)[:512] if rid is not None else None
