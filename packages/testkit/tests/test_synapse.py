"""The Matrix test base: the session's real Synapse, two users registered through the admin API,
and matrix-nio clients doing what the Matrix adapter's tests will need (rooms, invites, text,
files, threads, sync tokens resumed across clients)."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from nio import (
    AsyncClient,
    Event,
    JoinResponse,
    MemoryDownloadResponse,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomMessageFile,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
)
from testkit.synapse import MatrixUser, Synapse, SynapseError, registration_mac

pytestmark = pytest.mark.anyio
SYNC_WAIT_S = 20.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def new_user(synapse: Synapse, prefix: str) -> MatrixUser:
    return synapse.register(f"{prefix}-{secrets.token_hex(4)}", secrets.token_urlsafe(12))


@asynccontextmanager
async def client_for(synapse: Synapse, user: MatrixUser) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(synapse.url, user.user_id)
    client.user_id = user.user_id
    client.access_token = user.access_token
    try:
        yield client
    finally:
        await client.close()


async def sync_until(client: AsyncClient, found: Callable[[SyncResponse], Any], what: str) -> Any:
    """Long-poll sync until `found(response)` is truthy; return that (fail after a deadline)."""
    deadline = time.monotonic() + SYNC_WAIT_S
    while time.monotonic() < deadline:
        response = await client.sync(timeout=1000)
        assert isinstance(response, SyncResponse), response
        value = found(response)
        if value:
            return value
    raise AssertionError(f"timed out after {SYNC_WAIT_S:g} s waiting for {what}")


def timeline(response: SyncResponse, room_id: str) -> list[Event]:
    room = response.rooms.join.get(room_id)
    return list(room.timeline.events) if room is not None else []


async def shared_room(a: AsyncClient, b: AsyncClient) -> str:
    """A creates a private room and invites B; B sees the invite through sync and joins."""
    created = await a.room_create(name="switchboard test")
    assert isinstance(created, RoomCreateResponse), created
    invited = await a.room_invite(created.room_id, b.user_id)
    assert isinstance(invited, RoomInviteResponse), invited
    await sync_until(b, lambda r: created.room_id in r.rooms.invite, "the invite")
    joined = await b.join(created.room_id)
    assert isinstance(joined, JoinResponse), joined
    return str(created.room_id)


async def send_text(client: AsyncClient, room_id: str, body: str, **extra: Any) -> str:
    sent = await client.room_send(
        room_id, "m.room.message", {"msgtype": "m.text", "body": body, **extra}
    )
    assert isinstance(sent, RoomSendResponse), sent
    return str(sent.event_id)


def test_homeserver_answers_the_client_api(synapse: Synapse) -> None:
    versions = httpx.get(f"{synapse.url}/_matrix/client/versions", timeout=5).json()
    assert versions["versions"]
    assert synapse.url.startswith("http://127.0.0.1:")


def test_registered_users_get_ids_on_the_server_and_working_tokens(synapse: Synapse) -> None:
    alice = new_user(synapse, "alice")
    root = synapse.register(f"root-{secrets.token_hex(4)}", "pw-root", admin=True)
    assert alice.user_id.endswith(f":{synapse.server_name}")
    for user in (alice, root):
        whoami = httpx.get(
            f"{synapse.url}/_matrix/client/v3/account/whoami",
            headers={"Authorization": f"Bearer {user.access_token}"},
            timeout=5,
        )
        assert whoami.json()["user_id"] == user.user_id
    admin = httpx.get(
        f"{synapse.url}/_synapse/admin/v2/users/{alice.user_id}",
        headers={"Authorization": f"Bearer {root.access_token}"},
        timeout=5,
    )
    assert admin.status_code == 200
    assert admin.json()["admin"] is False
    refused = httpx.get(
        f"{synapse.url}/_synapse/admin/v2/users/{root.user_id}",
        headers={"Authorization": f"Bearer {alice.access_token}"},
        timeout=5,
    )
    assert refused.status_code == 403


def test_registration_with_a_wrong_mac_is_refused(synapse: Synapse) -> None:
    endpoint = f"{synapse.url}/_synapse/admin/v1/register"
    nonce = httpx.get(endpoint, timeout=5).json()["nonce"]
    forged = registration_mac("not-the-secret", nonce, "mallory", "pw", True)
    body = {"nonce": nonce, "username": "mallory", "password": "pw", "admin": True, "mac": forged}
    reply = httpx.post(endpoint, json=body, timeout=5)
    assert reply.status_code == 403
    mallory = synapse.register("mallory", "pw")  # the forged request made no account
    assert mallory.user_id == f"@mallory:{synapse.server_name}"
    with pytest.raises(SynapseError, match="mallory"):
        synapse.register("mallory", "pw")


async def test_text_sent_by_one_user_reaches_the_other_through_sync(synapse: Synapse) -> None:
    async with (
        client_for(synapse, new_user(synapse, "a")) as a,
        client_for(synapse, new_user(synapse, "b")) as b,
    ):
        room_id = await shared_room(a, b)
        event_id = await send_text(a, room_id, "hello from A")

        def arrived(r: SyncResponse) -> RoomMessageText | None:
            return next((e for e in timeline(r, room_id) if e.event_id == event_id), None)

        got = await sync_until(b, arrived, "A's message")
        assert isinstance(got, RoomMessageText)
        assert (got.body, got.sender) == ("hello from A", a.user_id)


async def test_file_uploaded_by_one_user_downloads_with_the_same_bytes(
    synapse: Synapse, tmp_path: Path
) -> None:
    data = secrets.token_bytes(3000) + b"\x00end"
    async with (
        client_for(synapse, new_user(synapse, "a")) as a,
        client_for(synapse, new_user(synapse, "b")) as b,
    ):
        room_id = await shared_room(a, b)
        source = tmp_path / "report.bin"
        source.write_bytes(data)
        with source.open("rb") as f:
            uploaded, _ = await a.upload(
                f,
                content_type="application/octet-stream",
                filename="report.bin",
                filesize=len(data),
            )
        assert isinstance(uploaded, UploadResponse), uploaded
        content = {
            "msgtype": "m.file",
            "body": "report.bin",
            "filename": "report.bin",
            "url": uploaded.content_uri,
            "info": {"mimetype": "application/octet-stream", "size": len(data)},
        }
        sent = await a.room_send(room_id, "m.room.message", content)
        assert isinstance(sent, RoomSendResponse), sent

        def arrived(r: SyncResponse) -> RoomMessageFile | None:
            events = timeline(r, room_id)
            return next((e for e in events if isinstance(e, RoomMessageFile)), None)

        got = await sync_until(b, arrived, "A's file")
        assert got.body == "report.bin"
        downloaded = await b.download(mxc=got.url)
        assert isinstance(downloaded, MemoryDownloadResponse), downloaded
        assert downloaded.body == data


async def test_threaded_reply_carries_its_thread_root(synapse: Synapse) -> None:
    async with (
        client_for(synapse, new_user(synapse, "a")) as a,
        client_for(synapse, new_user(synapse, "b")) as b,
    ):
        room_id = await shared_room(a, b)
        root_id = await send_text(a, room_id, "thread root")
        relates = {
            "rel_type": "m.thread",
            "event_id": root_id,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": root_id},
        }
        reply_id = await send_text(a, room_id, "in the thread", **{"m.relates_to": relates})

        def arrived(r: SyncResponse) -> Event | None:
            return next((e for e in timeline(r, room_id) if e.event_id == reply_id), None)

        got = await sync_until(b, arrived, "the threaded reply")
        relation = got.source["content"]["m.relates_to"]
        assert (relation["rel_type"], relation["event_id"]) == ("m.thread", root_id)


async def test_a_persisted_sync_token_resumes_without_old_events(
    synapse: Synapse, tmp_path: Path
) -> None:
    a_user, b_user = new_user(synapse, "a"), new_user(synapse, "b")
    token_file = tmp_path / "b.sync-token"
    async with client_for(synapse, a_user) as a, client_for(synapse, b_user) as b:
        room_id = await shared_room(a, b)
        first = await send_text(a, room_id, "before the restart")
        await sync_until(
            b, lambda r: any(e.event_id == first for e in timeline(r, room_id)), "the first"
        )
        token_file.write_text(b.next_batch)
    async with client_for(synapse, a_user) as a:
        second = await send_text(a, room_id, "after the restart")
    async with client_for(synapse, b_user) as b_again:
        b_again.next_batch = token_file.read_text()
        seen: list[str] = []

        def arrived(r: SyncResponse) -> bool:
            seen.extend(e.event_id for e in timeline(r, room_id))
            return second in seen

        await sync_until(b_again, arrived, "the second message")
        assert first not in seen
        assert seen.count(second) == 1


def processes_in(directory: Path) -> list[int]:
    """Pids of the processes whose working directory is `directory` (Synapse runs in its own)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cwd").readlink() == directory:
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def test_a_start_that_does_not_answer_in_time_fails_with_the_log_and_leaves_no_process(
    tmp_path: Path,
) -> None:
    base = tmp_path / "slow"
    with pytest.raises(SynapseError, match="did not answer") as failure:
        Synapse.start(base, timeout=0.2)
    assert "console.log (last" in str(failure.value)
    assert "homeserver.log (last" in str(failure.value)
    assert processes_in(base.resolve()) == []
