"""POST /v1/files (adapter protocol 1.1): an adapter's file streamed from the request body into
store.blobs (gated owns files/) under a size cap; an upload that fails leaves nothing behind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from store.blobs import BlobWriter

from gated import filenames

WRITE_BYTES: Final = 1024 * 1024  # body bytes gathered before one write to disk


class FileTooLarge(Exception):
    """The body went past the upload cap."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"file exceeds the limit of {limit} bytes")
        self.limit = limit


class UploadCut(Exception):
    """The client went away before the body was complete."""

    def __init__(self, received: int) -> None:
        super().__init__(f"the client went away after {received} bytes")
        self.received = received


@dataclass(frozen=True, slots=True)
class UploadHeaders:
    """What the headers say about the file: its name (None when not given) and media type."""

    name: str | None
    type: str


def upload_headers(headers: Mapping[str, str]) -> UploadHeaders:
    """The file's `X-Filename` (percent-encoded UTF-8) and `Content-Type`, checked
    (InvalidInput names the header)."""
    raw_name = headers.get("x-filename")
    name = None if raw_name is None else filenames.header_file_name(raw_name)
    media = filenames.media_type(headers.get("content-type", ""), "Content-Type")
    return UploadHeaders(name, media)


async def receive(chunks: AsyncIterator[bytes], writer: BlobWriter, limit: int) -> str:
    """Write the body to `writer` and commit it; its sha256. FileTooLarge as soon as more than
    `limit` bytes arrived, UploadCut when the client left (either way the caller aborts the
    writer: nothing stays on disk)."""
    pending: list[bytes] = []
    gathered = 0
    total = 0
    try:
        async for chunk in chunks:
            total += len(chunk)
            if total > limit:
                raise FileTooLarge(limit)
            pending.append(chunk)
            gathered += len(chunk)
            if gathered >= WRITE_BYTES:
                await run_in_threadpool(writer.write, b"".join(pending))
                pending, gathered = [], 0
    except ClientDisconnect:
        raise UploadCut(total) from None
    if pending:
        await run_in_threadpool(writer.write, b"".join(pending))
    return await run_in_threadpool(writer.commit)
