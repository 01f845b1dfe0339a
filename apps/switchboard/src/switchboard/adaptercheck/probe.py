"""What the rules act through: the adapter under test (its endpoints, called the way gated
calls them, with its send secret, without it or with a wrong one), the user's --say command,
and the throw-away gated's database, read with the store's own functions."""

from __future__ import annotations

import base64
import hashlib
import secrets
import subprocess
from pathlib import Path
from typing import Any, Final, Literal

import httpx
import store
from gated.adapters import Channel, channel_for_prefix
from gated.formatting import format_reply
from store.blobs import blob_size

from switchboard.adaptercheck.errors import SayFailed
from switchboard.adaptercheck.throwaway import ThrowawayGated

Auth = Literal["secret", "none", "wrong"]
# Not the adapter's secret, yet shaped like one: only the value is wrong.
WRONG_SECRET: Final = "wrong" + "A" * 38
HTTP_TIMEOUT_S: Final = 10.0
SAY_TIMEOUT_S: Final = 60.0
PAGE: Final = 200


class Probe:
    """The checker's hands and eyes on one adapter; `channel` is set by the registration rule
    and `inbound` (the first message the adapter posted) by the inbound rule."""

    def __init__(
        self,
        gated: ThrowawayGated,
        *,
        chat_jid: str,
        say_command: list[str],
        timeout: float,
        workdir: Path,
    ) -> None:
        self.gated = gated
        self.chat_jid = chat_jid
        self.prefix = store.validate.channel_of(chat_jid)
        self.say_command = say_command
        self.timeout = timeout
        self.workdir = workdir
        self.http = httpx.Client(timeout=HTTP_TIMEOUT_S)
        self.channel: Channel | None = None
        self.inbound: store.Message | None = None
        self.inbound_nonce = ""

    def close(self) -> None:
        self.http.close()

    # -- the adapter's endpoints ------------------------------------------------------------

    @property
    def adapter(self) -> Channel:
        assert self.channel is not None, "the registration rule runs first"
        return self.channel

    @property
    def max_text(self) -> int:
        caps = self.adapter.capabilities
        return caps.max_text if caps and caps.max_text else self.adapter.max_message_chars

    def call(
        self, method: str, path: str, *, auth: Auth = "secret", body: Any = None
    ) -> httpx.Response:
        """`method {url}{path}` as gated would make it (auth "secret": a 1.0 adapter gets no
        header, as from gated)."""
        headers = {}
        if auth == "secret":
            headers = self.adapter.auth_headers
        elif auth == "wrong":
            headers = {"Authorization": f"Bearer {WRONG_SECRET}"}
        url = f"{self.adapter.url.rstrip('/')}{path}"
        return self.http.request(method, url, headers=headers, json=body)

    def send_body(
        self, text: str, key: str, attachments: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """A /send body as gated's delivery worker makes it: `text` formatted for the
        adapter's platform, with its plain fallback and the idempotency key."""
        caps = self.adapter.capabilities
        formatted = format_reply(text, caps.format if caps else "plain")
        msg_id = key.rpartition(":")[0]
        body: dict[str, Any] = {
            "chat_jid": self.chat_jid,
            "id": msg_id,
            "text": formatted.text,
            "reply_to_id": None,
            "seq": 1,
            "part": 1,
            "parts": 1,
        }
        if caps is not None:
            body |= {
                "format": caps.format,
                "plain": formatted.plain,
                "idempotency_key": key,
                "thread_id": None,
            }
        if attachments:
            body["attachments"] = attachments
        return body

    # -- the platform -----------------------------------------------------------------------

    def nonce(self) -> str:
        """A word no earlier message holds, to find what a rule said."""
        return f"n{secrets.token_hex(5)}"

    def say(self, text: str, file: Path | None = None) -> None:
        """Run the --say command: a user says `text` (with `file`) on the platform."""
        args = [*self.say_command, *(["--file", str(file)] if file else []), text]
        try:
            done = subprocess.run(
                args, capture_output=True, text=True, timeout=SAY_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SayFailed(f"--say command failed: {exc}") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SayFailed(f"--say command exited {done.returncode}: {last}")

    @staticmethod
    def attachment(name: str, data: bytes) -> dict[str, Any]:
        """A /send attachment entry, as gated sends a stored file."""
        return {
            "name": name,
            "type": "text/plain",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "data": base64.b64encode(data).decode("ascii"),
        }

    # -- the throw-away gated's database ----------------------------------------------------

    def find_channel(self) -> Channel | None:
        """The registered adapter that owns the chat's prefix."""
        with self.gated.reading() as conn:
            return channel_for_prefix(conn, self.prefix)

    def messages(self) -> list[store.Message]:
        """Every message of the chat, oldest first."""
        found: list[store.Message] = []
        with self.gated.reading() as conn:
            while True:
                page = store.messages_since(conn, self.chat_jid, found[-1].seq if found else 0)
                found += page
                if len(page) < PAGE:
                    return found

    def posted(self, nonce: str) -> list[store.Message]:
        """The adapter's messages (not gated's replies) holding `nonce`."""
        return [m for m in self.messages() if not m.is_from_me and nonce in m.content]

    def replies(self, nonce: str) -> list[store.Message]:
        """gated's replies holding `nonce` (the echo agent repeats what it got)."""
        return [m for m in self.messages() if m.is_from_me and nonce in m.content]

    def posted_elsewhere(self, nonce: str) -> list[str]:
        """Chats other than the one under test where a message holds `nonce`."""
        chats: list[str] = []
        with self.gated.reading() as conn:
            seq = 0
            while page := store.new_messages(conn, seq):
                chats += [m.chat_jid for m in page if nonce in m.content]
                seq = page[-1].seq
        return sorted(set(chats) - {self.chat_jid})

    def outbox(self, seq: int) -> store.OutboxItem | None:
        with self.gated.reading() as conn:
            return store.outbox_status(conn, seq)

    def stored_file_size(self, sha256: str) -> int | None:
        """The size of the file gated stored under `sha256`, if it did."""
        with self.gated.reading() as conn:
            return blob_size(conn, sha256)
