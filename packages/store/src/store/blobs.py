"""Files agents send (outbound attachments): kept by content (sha256) under `files/` beside the
database (SWITCHBOARD_FILES_DIR), written once through a temporary file, read by whoever
delivers or shows them. A message names its file in `attachments` as `{"name", "type",
"size", "file": <sha256>}`."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import IO, Any, Final

from store.errors import InvalidInput
from store.paths import beside_db

MAX_FILE_BYTES: Final = 25 * 1024 * 1024
SHA256_RE: Final = re.compile(r"[0-9a-f]{64}")
CHUNK: Final = 1024 * 1024


def files_dir(conn: sqlite3.Connection) -> Path:
    """Where the files live: SWITCHBOARD_FILES_DIR, else `files/` beside the database."""
    return beside_db(conn, "files", "SWITCHBOARD_FILES_DIR")


def blob_path(conn: sqlite3.Connection, sha256: str) -> Path:
    """The path of a stored file (InvalidInput for anything but a sha256 hex digest)."""
    if not SHA256_RE.fullmatch(sha256):
        raise InvalidInput("file", "is not a sha256 hex digest")
    return files_dir(conn) / sha256[:2] / sha256


def put_blob(
    conn: sqlite3.Connection, src: IO[bytes], limit: int = MAX_FILE_BYTES
) -> tuple[str, int]:
    """Store what `src` holds (at most `limit` bytes, else InvalidInput('path')); returns its
    sha256 and size. The same content twice is stored once."""
    root = files_dir(conn)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(prefix=".incoming-", dir=root)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise InvalidInput("path", f"the file is over {limit // (1024 * 1024)} MiB")
                digest.update(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        final = blob_path(conn, sha)
        final.parent.mkdir(mode=0o700, exist_ok=True)
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return sha, size


def file_entry(name: str, content_type: str, size: int, sha256: str) -> dict[str, Any]:
    """The `attachments` entry of a stored file."""
    return {"name": name, "type": content_type, "size": size, "file": sha256}


def stored_files(attachments: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The entries of a message's attachments that name a stored file."""
    return [
        a
        for a in attachments or []
        if isinstance(a, dict) and isinstance(a.get("file"), str) and SHA256_RE.fullmatch(a["file"])
    ]
