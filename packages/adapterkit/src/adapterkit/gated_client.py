"""The adapter's side of gated's channel API: registration (protocol v1.1 with the send secret
and capabilities; retried with back-off while gated is down, again whenever a token is
refused), file uploads to /v1/files and message posts to /v1/messages."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import aiohttp
from store import log_safe

from adapterkit.errors import RegistrationRefused, Stopping
from adapterkit.model import Capabilities, InFile

log = logging.getLogger(__name__)

PROTOCOL: Final = "1.1"
TIMEOUT_S: Final = 30.0
# Each phase (connecting, waiting for a free connection, reading) at most TIMEOUT_S, no cap on
# the whole request: as httpx's `timeout=TIMEOUT_S` was.
TIMEOUT: Final = aiohttp.ClientTimeout(total=None, connect=TIMEOUT_S, sock_read=TIMEOUT_S)
BACKOFF_FIRST_S: Final = 0.5
BACKOFF_MAX_S: Final = 30.0
# Answers that mean "try again later" (gated restarting, its database busy, a proxy).
TEMPORARY: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


def backoff(attempt: int, first: float = BACKOFF_FIRST_S, most: float = BACKOFF_MAX_S) -> float:
    """The wait before try `attempt + 1` (attempt >= 1): doubling from `first`, at most `most`,
    with +-20 % jitter so restarted adapters do not knock in step."""
    base = min(most, first * 2.0 ** (attempt - 1))
    jitter: float = random.uniform(0.8, 1.2)
    return base * jitter


@dataclass(frozen=True, slots=True)
class Registration:
    token: str
    protocol: str  # "1.1", or "1.0" for a gated that does not know v1.1


@dataclass(frozen=True, slots=True)
class Answer:
    """gated's answer to one request, read in full."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON (ValueError when it is not)."""
        return json.loads(self.content)


class Refused(Exception):
    """gated refused a request for good (4xx): the status and its error text."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error


class GatedClient:
    """One channel's connection to gated. `stopping` ends every retry loop with `Stopping`."""

    def __init__(
        self,
        *,
        gated_url: str,
        channel_secret: str,
        name: str,
        capabilities: Capabilities,
        send_secret: str,
        stopping: asyncio.Event,
    ) -> None:
        self.gated_url = gated_url.rstrip("/")
        self.channel_secret = channel_secret
        self.name = name
        self.capabilities = capabilities
        self.send_secret = send_secret
        self.stopping = stopping
        self._http: aiohttp.ClientSession | None = None  # made in the running loop
        self.url: str | None = None
        self.registration: Registration | None = None
        self.registered = asyncio.Event()
        self.files_supported = True
        self._register_lock = asyncio.Lock()
        self._generation = 0

    async def _post(
        self,
        path: str,
        *,
        headers: dict[str, str],
        json_body: Any = None,
        content: bytes | None = None,
    ) -> Answer:
        """POST `path` to gated; its answer, read in full."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=TIMEOUT, trust_env=True)
        async with self._http.post(
            f"{self.gated_url}{path}", json=json_body, data=content, headers=headers
        ) as resp:
            return Answer(resp.status, await resp.read())

    @property
    def legacy(self) -> bool:
        """gated answered the registration without protocol 1.1: it sends no Authorization."""
        return self.registration is not None and self.registration.protocol != PROTOCOL

    def registration_body(self) -> dict[str, Any]:
        assert self.url is not None
        caps = self.capabilities
        return {
            "name": self.name,
            "url": self.url,
            "jid_prefixes": [],
            # v1.0 gated reads only this; v1.1 prefers capabilities.max_text.
            "max_message_chars": caps.max_text,
            "protocol": PROTOCOL,
            "send_secret": self.send_secret,
            "capabilities": caps.to_json(),
        }

    async def register(self, url: str) -> Registration:
        """Register this channel at `url`; retries until gated answers (RegistrationRefused on
        a 4xx: the channel secret is wrong, or the name is taken)."""
        self.url = url
        return await self._register(self._generation)

    async def _register(self, seen_generation: int) -> Registration:
        async with self._register_lock:
            if self._generation != seen_generation and self.registration is not None:
                return self.registration  # another task re-registered meanwhile
            self.registered.clear()
            attempt = 0
            while True:
                attempt += 1
                try:
                    resp = await self._post(
                        "/v1/channels/register",
                        json_body=self.registration_body(),
                        headers={"Authorization": f"Bearer {self.channel_secret}"},
                    )
                except (aiohttp.ClientError, TimeoutError) as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                else:
                    if resp.status_code == 200:
                        break
                    if resp.status_code == 401:
                        raise RegistrationRefused(
                            "gated refused SWITCHBOARD_CHANNEL_SECRET (401): give the secret "
                            "gated runs with"
                        )
                    if resp.status_code not in TEMPORARY:
                        raise RegistrationRefused(
                            f"gated refused the registration of {self.name!r}: "
                            f"{resp.status_code} {error_text(resp)}"
                        )
                    problem = f"{resp.status_code} {error_text(resp)}"
                wait = backoff(attempt)
                log.warning(
                    "gated not reachable for registration url=%s try=%d problem=%s "
                    "next_try_in=%.1fs",
                    self.gated_url,
                    attempt,
                    log_safe(problem),
                    wait,
                )
                await self._sleep(wait)
            answer = resp.json()
            protocol = PROTOCOL if answer.get("protocol") == PROTOCOL else "1.0"
            self.registration = Registration(token=str(answer["token"]), protocol=protocol)
            self._generation += 1
            self.registered.set()
        if protocol == PROTOCOL:
            log.info(
                "registered with gated channel=%s url=%s protocol=1.1", self.name, url_of(self)
            )
        else:
            log.warning(
                "registered with gated channel=%s url=%s: gated speaks protocol 1.0 (no "
                "/send secret): /send and /typing are accepted without Authorization",
                self.name,
                url_of(self),
            )
        return self.registration

    async def _sleep(self, seconds: float) -> None:
        """Sleep, or raise Stopping at once when the adapter stops."""
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            return
        raise Stopping("the adapter is stopping")

    async def _authorized(
        self, send: Callable[[str], Awaitable[Answer]], what: str, *, describe: str
    ) -> Answer:
        """Run `send(token)` until gated answers something other than a temporary failure or
        a refused token (401: registered again, then retried)."""
        attempt = 0
        while True:
            if self.stopping.is_set():
                raise Stopping("the adapter is stopping")
            await self.registered.wait()
            assert self.registration is not None
            generation = self._generation
            attempt += 1
            try:
                resp = await send(self.registration.token)
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code == 401:
                    log.warning("gated refused the channel token: registering again %s", describe)
                    await self._register(generation)
                    continue
                if resp.status_code not in TEMPORARY:
                    return resp
                problem = f"{resp.status_code} {error_text(resp)}"
            wait = backoff(attempt)
            log.warning(
                "%s failed, retrying %s try=%d problem=%s next_try_in=%.1fs",
                what,
                describe,
                attempt,
                log_safe(problem),
                wait,
            )
            await self._sleep(wait)

    async def upload(self, file: InFile) -> dict[str, Any] | None:
        """POST /v1/files: the v1.1 attachment entry; None when gated has no /v1/files (v1.0).
        Refused on a 4xx other than 404 (413: over gated's cap)."""
        if not self.files_supported:
            return None

        def send(token: str) -> Awaitable[Answer]:
            return self._post(
                "/v1/files",
                content=file.data,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": file.type,
                    "X-Filename": quote(file.name, safe=""),
                },
            )

        resp = await self._authorized(send, "file upload", describe=f"file={log_safe(file.name)}")
        if resp.status_code == 404:
            self.files_supported = False
            log.warning(
                "gated has no /v1/files (protocol 1.0): attachments are sent as metadata only"
            )
            return None
        if resp.status_code != 201:
            raise Refused(resp.status_code, error_text(resp))
        answer = resp.json()
        return {
            "sha256": answer["sha256"],
            "name": file.name,
            "type": file.type,
            "size": answer.get("size", len(file.data)),
        }

    async def post_message(self, body: dict[str, Any]) -> int:
        """POST /v1/messages until stored; the message's seq (Refused on a 4xx)."""

        def send(token: str) -> Awaitable[Answer]:
            return self._post(
                "/v1/messages",
                json_body=body,
                headers={"Authorization": f"Bearer {token}"},
            )

        describe = f"chat={log_safe(body['chat_jid'])} id={log_safe(body['id'])}"
        resp = await self._authorized(send, "message post", describe=describe)
        if resp.status_code != 202:
            raise Refused(resp.status_code, error_text(resp))
        return int(resp.json()["seq"])

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()


def url_of(client: GatedClient) -> str:
    return client.url or "?"


def error_text(resp: Answer) -> str:
    """gated's `error` field, else the start of the body."""
    try:
        data = resp.json()
    except ValueError:
        return resp.text[:200]
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])[:200]
    return resp.text[:200]
