"""`MatrixHuman`: a real matrix-nio client playing the person who talks to the bot in the Matrix
adapter's tests: make rooms, send text, files and thread replies, and wait (with a deadline)
for what the bot posts, then download its files. Every event it syncs is kept, so a message
that arrived while the test looked elsewhere is never missed."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from nio import (
    AsyncClient,
    JoinResponse,
    MemoryDownloadResponse,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
)

DEFAULT_TIMEOUT_S: Final = 20.0
SYNC_POLL_MS: Final = 500  # one long-poll slice: short, so a deadline is kept closely


@dataclass(frozen=True, slots=True)
class SeenMessage:
    """An `m.room.message` the human's client received, read from the raw event."""

    room_id: str
    event_id: str
    sender: str
    msgtype: str
    body: str
    formatted_body: str | None
    url: str | None  # mxc:// of an m.file / m.image / m.audio / m.video
    filename: str | None
    mimetype: str | None
    thread_root: str | None  # m.relates_to rel_type m.thread
    reply_to: str | None  # m.relates_to m.in_reply_to (also the thread fallback)
    replaces: str | None  # an edit: m.relates_to rel_type m.replace
    source: dict[str, Any]

    @classmethod
    def from_event(cls, room_id: str, source: dict[str, Any]) -> SeenMessage:
        content: dict[str, Any] = source.get("content") or {}
        relates: dict[str, Any] = content.get("m.relates_to") or {}
        rel_type = relates.get("rel_type")
        info: dict[str, Any] = content.get("info") or {}
        return cls(
            room_id=room_id,
            event_id=str(source["event_id"]),
            sender=str(source["sender"]),
            msgtype=str(content.get("msgtype", "")),
            body=str(content.get("body", "")),
            formatted_body=content.get("formatted_body"),
            url=content.get("url"),
            filename=content.get("filename") or (content.get("body") if "url" in content else None),
            mimetype=info.get("mimetype"),
            thread_root=relates.get("event_id") if rel_type == "m.thread" else None,
            reply_to=(relates.get("m.in_reply_to") or {}).get("event_id"),
            replaces=relates.get("event_id") if rel_type == "m.replace" else None,
            source=source,
        )


class MatrixHuman:
    """One logged-in person on a homeserver. Use as `async with MatrixHuman(url, user_id,
    token) as human:`; the client's session is closed on exit."""

    def __init__(self, homeserver_url: str, user_id: str, access_token: str) -> None:
        self.user_id = user_id
        self.client = AsyncClient(homeserver_url, user_id)
        self.client.user_id = user_id
        self.client.access_token = access_token
        self.seen: list[SeenMessage] = []
        self.invites: set[str] = set()
        self.members: dict[str, set[str]] = {}  # room id -> joined user ids, from sync
        self._taken: set[str] = set()  # event ids already returned by wait_for_message

    async def __aenter__(self) -> MatrixHuman:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.client.close()

    @property
    def sync_token(self) -> str | None:
        return self.client.next_batch or None

    async def sync_once(self, timeout_ms: int = SYNC_POLL_MS) -> None:
        """One sync; keeps every room message, invite and membership change it brings."""
        response = await self.client.sync(timeout=timeout_ms)
        if not isinstance(response, SyncResponse):
            raise AssertionError(f"sync failed for {self.user_id}: {response}")
        self.invites.update(response.rooms.invite)
        for room_id, room in response.rooms.join.items():
            for event in [*room.state, *room.timeline.events]:
                source: dict[str, Any] = event.source
                kind = source.get("type")
                if kind == "m.room.message":
                    self.seen.append(SeenMessage.from_event(room_id, source))
                elif kind == "m.room.member":
                    self._note_member(room_id, source)

    def _note_member(self, room_id: str, source: dict[str, Any]) -> None:
        joined = self.members.setdefault(room_id, set())
        who = str(source.get("state_key", ""))
        if (source.get("content") or {}).get("membership") == "join":
            joined.add(who)
        else:
            joined.discard(who)

    async def _until(self, found: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = found()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.user_id}: timed out after {timeout:g} s for {what}")
            await self.sync_once()

    async def create_room(self, *, invite: tuple[str, ...] = (), name: str = "test") -> str:
        created = await self.client.room_create(name=name, invite=list(invite))
        if not isinstance(created, RoomCreateResponse):
            raise AssertionError(f"room_create failed: {created}")
        return str(created.room_id)

    async def invite(self, room_id: str, user_id: str) -> None:
        invited = await self.client.room_invite(room_id, user_id)
        if not isinstance(invited, RoomInviteResponse):
            raise AssertionError(f"invite of {user_id} failed: {invited}")

    async def accept_invite(self, room_id: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        """Wait for the invite to `room_id` to arrive through sync, then join."""
        await self._until(lambda: room_id in self.invites, timeout, f"an invite to {room_id}")
        joined = await self.client.join(room_id)
        if not isinstance(joined, JoinResponse):
            raise AssertionError(f"join {room_id} failed: {joined}")
        self.invites.discard(room_id)

    async def wait_for_member(
        self, room_id: str, user_id: str, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        """Until `user_id` has joined `room_id` (as this human's sync shows it)."""
        await self._until(
            lambda: user_id in self.members.get(room_id, set()),
            timeout,
            f"{user_id} to join {room_id}",
        )

    async def _send(self, room_id: str, content: dict[str, Any]) -> str:
        sent = await self.client.room_send(room_id, "m.room.message", content)
        if not isinstance(sent, RoomSendResponse):
            raise AssertionError(f"send to {room_id} failed: {sent}")
        return str(sent.event_id)

    async def send_text(self, room_id: str, body: str, *, reply_to: str | None = None) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        if reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return await self._send(room_id, content)

    async def send_in_thread(self, room_id: str, thread_root: str, body: str) -> str:
        """A reply in the thread whose root is `thread_root` (with the spec's reply fallback)."""
        relates = {
            "rel_type": "m.thread",
            "event_id": thread_root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": thread_root},
        }
        return await self._send(
            room_id, {"msgtype": "m.text", "body": body, "m.relates_to": relates}
        )

    async def upload(self, name: str, data: bytes, mimetype: str) -> str:
        """Put `data` in the media repository; its mxc:// URI."""
        uploaded, _ = await self.client.upload(
            io.BytesIO(data), content_type=mimetype, filename=name, filesize=len(data)
        )
        if not isinstance(uploaded, UploadResponse):
            raise AssertionError(f"upload of {name!r} failed: {uploaded}")
        return str(uploaded.content_uri)

    async def send_file(
        self, room_id: str, name: str, data: bytes, mimetype: str = "application/octet-stream"
    ) -> str:
        """Upload `data` and post it as an `m.file` message; the event id."""
        url = await self.upload(name, data, mimetype)
        content = {
            "msgtype": "m.file",
            "body": name,
            "filename": name,
            "url": url,
            "info": {"mimetype": mimetype, "size": len(data)},
        }
        return await self._send(room_id, content)

    async def wait_for_message(
        self,
        sender: str,
        *,
        room_id: str | None = None,
        match: Callable[[SeenMessage], bool] = lambda _: True,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> SeenMessage:
        """The first message from `sender` (in `room_id`, if given, satisfying `match`) not
        returned before; sync until it comes or fail after `timeout` seconds."""

        def first() -> SeenMessage | None:
            for message in self.seen:
                if (
                    message.event_id not in self._taken
                    and message.sender == sender
                    and (room_id is None or message.room_id == room_id)
                    and match(message)
                ):
                    return message
            return None

        where = f" in {room_id}" if room_id else ""
        message: SeenMessage = await self._until(first, timeout, f"a message from {sender}{where}")
        self._taken.add(message.event_id)
        return message

    async def messages_from(self, sender: str, room_id: str | None = None) -> list[SeenMessage]:
        """Every message from `sender` synced so far (after one more short sync)."""
        await self.sync_once(timeout_ms=0)
        return [
            m for m in self.seen if m.sender == sender and (room_id is None or m.room_id == room_id)
        ]

    async def download(self, mxc: str) -> bytes:
        """The bytes behind an mxc:// URI (authenticated media API)."""
        downloaded = await self.client.download(mxc=mxc)
        if not isinstance(downloaded, MemoryDownloadResponse):
            raise AssertionError(f"download of {mxc} failed: {downloaded}")
        return bytes(downloaded.body)
