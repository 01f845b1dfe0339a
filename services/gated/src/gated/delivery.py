"""The delivery worker: claims due `outbox` rows and sends each to its channel (adapter
`POST {url}/send`, an in-process sender such as email, or nothing for `web:`/`cli:` chats),
retrying with back-off (never before an adapter's Retry-After); after the last attempt the row
is dead and the group is told. A protocol 1.1 adapter gets its secret, the reply formatted for
its platform with a plain fallback, an idempotency key and the reply's thread."""

from __future__ import annotations

import base64
import logging
import math
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Final

import httpx
import store
from daemonkit import tracing
from daemonkit.worker import run_steps
from store import liveness, outbox
from store.outbox import BACKOFF_CAP_S, clear_parts, parts_done, record_parts_done

from gated.adapters import Channel, channel_for_prefix
from gated.attachments import stored_files
from gated.config import Config
from gated.errors import DeliveryError
from gated.formatting import Formatted, format_reply
from gated.senders import ChannelSender
from gated.split import split_message, split_to_fit
from gated.threads import thread_for_topic

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
# Parameters: not_before, seq, not_before. A failed row's next try moved no earlier than the
# adapter's Retry-After (the back-off, when later, stands). The outbox is store's table: this
# belongs beside store.mark_failed, as its `not_before`, once store takes it.
DEFER_RETRY_SQL: Final = """
UPDATE outbox SET next_attempt_at = ? WHERE seq = ? AND status = 'failed' AND next_attempt_at < ?
"""


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
        """Send one claimed item and settle its outbox row (sent, retry later, or dead); a
        span of the trace of the run that stored it (tracing on), whose traceparent the
        adapter's /send gets as a header."""
        prefix = store.validate.channel_of(item.chat_jid)
        attributes: tracing.Attributes = {"channel": prefix, "attempt": item.attempts}
        span = tracing.start(
            "gated.deliver", item.traceparent, kind="client", attributes=attributes
        )
        error = self._deliver(prefix, item, now, tracing.traceparent(span))
        tracing.end(span, error)

    def _deliver(
        self, prefix: str, item: store.OutboxItem, now: datetime, trace: str | None
    ) -> str | None:
        """Send and settle; why it failed, or None when sent."""
        started = time.monotonic()
        try:
            remote_id = self._send(prefix, item, trace)
        except DeliveryError as exc:
            # Retry-After counts from the answer, which came this long after `now`.
            wait = exc.retry_after and exc.retry_after + (time.monotonic() - started)
            self._failed(item, exc.reason, exc.permanent, now, wait)
            return exc.reason
        except Exception as exc:
            log.exception("unexpected error sending seq=%d chat=%s", item.seq, item.chat_jid)
            self._failed(item, f"unexpected error: {exc!r}", False, now)
            return f"unexpected error: {exc!r}"
        with store.tx(self.conn):
            settled = store.mark_sent(self.conn, item.seq, remote_id)
            clear_parts(self.conn, item.seq)
        if settled:
            log.info("delivered seq=%d chat=%s attempt=%d", item.seq, item.chat_jid, item.attempts)
        else:
            log.warning("delivered seq=%d but the claim had expired", item.seq)
        return None

    def _send(self, prefix: str, item: store.OutboxItem, trace: str | None) -> str | None:
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
        return self._send_parts(channel, item, trace)

    def _send_parts(
        self, channel: Channel, item: store.OutboxItem, trace: str | None
    ) -> str | None:
        """POST each part not yet delivered, recording progress after each one."""
        parts = adapter_parts(channel, item.content)
        thread_id = thread_for_topic(self.conn, item.chat_jid, item.topic) if channel.v1_1 else None
        first = parts_done(self.conn, item.seq) if len(parts) > 1 else 0
        remote_id = None
        for index in range(first, len(parts)):
            body = send_body(channel, item, parts[index], index + 1, len(parts), thread_id)
            if index == 0 and item.attachments:
                body["attachments"] = adapter_attachments(self.conn, item)
            rid = self._post(channel, body, trace)
            remote_id = remote_id or rid
            if len(parts) > 1:
                record_parts_done(self.conn, item.seq, index + 1)
        return remote_id

    def _post(self, channel: Channel, payload: dict[str, Any], trace: str | None) -> str | None:
        url = f"{channel.url.rstrip('/')}/send"
        headers = (
            channel.auth_headers
            if trace is None
            else {**channel.auth_headers, "traceparent": trace}
        )
        try:
            resp = self._client.post(url, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"adapter {channel.name!r} unreachable at {url}: {exc}") from exc
        if resp.is_success:
            return remote_id(resp)
        reason = f"adapter {channel.name!r} answered {resp.status_code}: {resp.text[:300]}"
        retry = resp.status_code in RETRY_STATUSES or resp.status_code >= 500
        after = retry_after(resp.headers.get("retry-after"), datetime.now(UTC)) if retry else None
        raise DeliveryError(reason, permanent=not retry, retry_after=after)

    def _failed(
        self,
        item: store.OutboxItem,
        reason: str,
        permanent: bool,
        now: datetime,
        not_before_s: float | None = None,
    ) -> None:
        with store.tx(self.conn):
            status = store.mark_failed(
                self.conn,
                item.seq,
                reason,
                now=now,
                max_attempts=self.config.max_delivery_attempts,
                permanent=permanent,
            )
            if status == "failed" and not_before_s:
                not_before = store.iso(now + timedelta(seconds=not_before_s))
                self.conn.execute(DEFER_RETRY_SQL, (not_before, item.seq, not_before))
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


def adapter_parts(channel: Channel, content: str) -> list[Formatted]:
    """The parts a reply is sent in: for 1.1, formatted for the adapter's platform, each part's
    text (and plain fallback) within its max_text; for 1.0 the text as it is."""
    if not channel.v1_1 or channel.capabilities is None:
        return [Formatted(p, p) for p in split_message(content, channel.max_message_chars)]
    fmt = channel.capabilities.format

    def measure(part: str) -> int:
        formatted = format_reply(part, fmt)
        return max(len(formatted.text), len(formatted.plain))

    parts = split_to_fit(content, channel.max_message_chars, measure)
    return [format_reply(p, fmt) for p in parts]


def send_body(
    channel: Channel,
    item: store.OutboxItem,
    part: Formatted,
    n: int,
    parts: int,
    thread_id: str | None,
) -> dict[str, Any]:
    """The JSON of one `/send`: protocol 1.0's fields, and for 1.1 its extras."""
    body: dict[str, Any] = {
        "chat_jid": item.chat_jid,
        "id": item.id,
        "text": part.text,
        "reply_to_id": item.reply_to_id,
        "seq": item.seq,
        "part": n,
        "parts": parts,
    }
    if channel.v1_1 and channel.capabilities is not None:
        body["format"] = channel.capabilities.format
        body["plain"] = part.plain
        body["idempotency_key"] = f"{item.id}:{n}"
        body["thread_id"] = thread_id
    return body


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a `Retry-After` header asks to wait (delta-seconds or an HTTP date), at most
    the back-off's cap; None when absent or not a time."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    return min(seconds, BACKOFF_CAP_S)


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


def remote_id(resp: httpx.Response) -> str | None:
    """The adapter's optional `{"remote_id": ...}` answer."""
    try:
        body = resp.json()
    except ValueError:
        return None
    rid = body.get("remote_id") if isinstance(body, dict) else None
    return str(rid)[:512] if rid is not None else None
