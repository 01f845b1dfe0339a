"""The IMAP side of the email channel (imapclient): connect with TLS/STARTTLS (plain only for a
loopback host), find mail not yet stored (UIDVALIDITY + last UID cursor), fetch it, and wait
for more with IDLE or, when the server lacks IDLE, by polling."""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

import store
from daemonkit import settings
from imapclient import IMAPClient
from store import bus

from gated.config import EmailConfig

log = logging.getLogger(__name__)

TIMEOUT_S: Final = 30.0
FETCH_BATCH: Final = 25
MAX_MAIL_BYTES: Final = 25_000_000
# IDLE is checked in short ticks so a stop request is seen quickly; renewed well within the
# 29 minutes RFC 2177 allows.
IDLE_TICK_S: Final = 0.5
IDLE_RENEW_S: Final = 25 * 60.0
SEEN: Final = b"\\Seen"


class PlainTextRefused(ValueError):
    """Plain (unencrypted) IMAP/SMTP was asked for a host that is not the loopback interface."""


def require_tls_unless_local(kind: str, tls: str, host: str) -> None:
    """Plain text is only for tests against a server on this machine."""
    if tls == "plain" and not settings.is_loopback(host):
        raise PlainTextRefused(
            f"{kind}_tls=plain refused for host {host!r}: use ssl or starttls "
            "(plain is allowed only for 127.0.0.1/localhost)"
        )


def open_client(cfg: EmailConfig, timeout: float = TIMEOUT_S) -> IMAPClient:
    """A logged-in IMAPClient (nothing selected yet)."""
    require_tls_unless_local("imap", cfg.imap_tls, cfg.imap_host)
    context = ssl.create_default_context()
    client = IMAPClient(
        cfg.imap_host,
        port=cfg.imap_port,
        ssl=cfg.imap_tls == "ssl",
        ssl_context=context if cfg.imap_tls == "ssl" else None,
        timeout=timeout,
    )
    try:
        if cfg.imap_tls == "starttls":
            client.starttls(context)
        client.login(cfg.imap_user, cfg.imap_password)
    except BaseException:
        close_quietly(client)
        raise
    return client


def close_quietly(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # the connection may already be gone; closing must not fail
        with contextlib.suppress(Exception):
            client.shutdown()


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where inbound mail was read up to, persisted in router_state."""

    uidvalidity: int
    last_uid: int
    synced_on: str  # ISO date of the last sync (bounds the re-sync after a UIDVALIDITY change)

    def dump(self) -> str:
        return json.dumps(
            {
                "uidvalidity": self.uidvalidity,
                "last_uid": self.last_uid,
                "synced_on": self.synced_on,
            }
        )

    @classmethod
    def load(cls, text: str | None) -> Cursor | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(int(data["uidvalidity"]), int(data["last_uid"]), str(data["synced_on"]))
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable IMAP cursor %r; starting over from unseen mail", text[:200])
            return None


def cursor_key(cfg: EmailConfig) -> str:
    return bus.email_cursor(cfg.imap_user, cfg.imap_host, cfg.imap_port, cfg.imap_folder)


class Mailbox:
    """One connection with the configured folder selected."""

    def __init__(self, cfg: EmailConfig) -> None:
        self.cfg = cfg
        self.client: IMAPClient | None = None
        self.uidvalidity = 0
        self.uidnext = 0
        self.can_idle = False

    def connect(self) -> None:
        self.client = open_client(self.cfg)
        info: dict[bytes, Any] = self.client.select_folder(self.cfg.imap_folder)
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        self.uidnext = int(info.get(b"UIDNEXT", 0))
        self.can_idle = bool(self.client.has_capability("IDLE"))
        log.info(
            "imap connected host=%s folder=%s uidvalidity=%d idle=%s",
            self.cfg.imap_host,
            self.cfg.imap_folder,
            self.uidvalidity,
            self.can_idle,
        )

    def close(self) -> None:
        if self.client is not None:
            close_quietly(self.client)
            self.client = None

    def _c(self) -> IMAPClient:
        if self.client is None:
            raise ConnectionError("imap mailbox is not connected")
        return self.client

    def pending_uids(self, cursor: Cursor | None, first_pass: bool) -> list[int]:
        """UIDs to read now, ascending.

        Within a session: everything above the cursor. On (re)connect also every unseen mail
        (what we stored is flagged \\Seen, so this catches mail whose flag-set was lost), and
        after a UIDVALIDITY change the mail since the last sync day (stored ones are no-ops)."""
        client = self._c()
        uids: set[int] = set()
        same_validity = cursor is not None and cursor.uidvalidity == self.uidvalidity
        if cursor is not None and same_validity:
            found = client.search(["UID", f"{cursor.last_uid + 1}:*"])
            uids.update(u for u in found if u > cursor.last_uid)
        if first_pass:
            uids.update(client.search(["UNSEEN"]))
            if cursor is not None and not same_validity:
                since = date.fromisoformat(cursor.synced_on) - timedelta(days=1)
                uids.update(client.search(["SINCE", since]))
        return sorted(uids)

    def fetch(self, uids: list[int]) -> Iterator[tuple[int, bytes]]:
        """(uid, raw mail) in UID order; oversize mail yields its header only."""
        client = self._c()
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            sizes = client.fetch(batch, [b"RFC822.SIZE"])
            small = [
                u for u in batch if int(sizes.get(u, {}).get(b"RFC822.SIZE", 0)) <= MAX_MAIL_BYTES
            ]
            large = [u for u in batch if u in sizes and u not in small]
            bodies = client.fetch(small, [b"BODY.PEEK[]"]) if small else {}
            heads = client.fetch(large, [b"BODY.PEEK[HEADER]"]) if large else {}
            for uid in batch:
                if uid in bodies:
                    yield uid, bytes(bodies[uid].get(b"BODY[]") or b"")
                elif uid in heads:
                    head = bytes(heads[uid].get(b"BODY[HEADER]") or b"")
                    note = f"(mail of {sizes[uid][b'RFC822.SIZE']} bytes, too large to read)"
                    yield uid, head + note.encode() + b"\r\n"

    def mark_seen(self, uids: list[int]) -> None:
        if not uids:
            return
        try:
            self._c().add_flags(uids, [SEEN], silent=True)
        except Exception as exc:  # a read-only folder still works, it only re-reads unseen mail
            if "readonly" in type(exc).__name__.lower() or "read-only" in str(exc).lower():
                log.warning("imap folder is read-only; cannot flag mail seen: %s", exc)
                return
            raise

    def wait_for_mail(self, stop: threading.Event, wait_s: float) -> None:
        """Return when new mail may be there, after wait_s, or when stop is set.

        Raises on a dead connection (BYE, EOF) so the caller reconnects."""
        client = self._c()
        if not self.can_idle:
            stop.wait(wait_s)
            client.noop()
            return
        deadline = time.monotonic() + min(wait_s, IDLE_RENEW_S)
        client.idle()
        while not stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            responses = client.idle_check(timeout=IDLE_TICK_S)
            if any(_is_bye(r) for r in responses):
                raise ConnectionError("imap server closed the connection (BYE)")
            if any(_is_new_mail(r) for r in responses):
                break
            if not responses and time.monotonic() - started < IDLE_TICK_S / 2:
                # The socket was readable but held no line: probe whether the server is gone.
                client.idle_done()
                client.noop()
                client.idle()
        client.idle_done()


def _is_bye(response: Any) -> bool:
    return isinstance(response, tuple) and len(response) > 0 and response[0] == b"BYE"


def _is_new_mail(response: Any) -> bool:
    return (
        isinstance(response, tuple)
        and len(response) > 1
        and response[1]
        in (
            b"EXISTS",
            b"RECENT",
        )
    )


def today_iso() -> str:
    return store.utcnow().date().isoformat()
