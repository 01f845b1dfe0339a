"""Files agents send and adapters upload (outbound and inbound attachments): kept by content
(sha256) under `files/` beside the database (SWITCHBOARD_FILES_DIR), written once through a
temporary file, read by whoever delivers or shows them. A message names its file in
`attachments` as `{"name", "type", "size", "file": <sha256>}`."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import stat
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
    return _under(files_dir(conn), sha256)


def _under(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


class BlobWriter:
    """One file being stored piece by piece (an upload arriving in chunks): `write` each piece,
    then `commit` (the file is stored under its sha256) or `abort` (nothing is left behind).
    The connection is read once, here: the writer may then be used from any thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._root = files_dir(conn)
        self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=".incoming-", dir=self._root)
        self._out: IO[bytes] | None = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        if self._out is None:
            raise ValueError("the blob is already committed or aborted")
        self._out.write(chunk)
        self._digest.update(chunk)
        self.size += len(chunk)

    def commit(self) -> str:
        """Store the file under its sha256 (the same content twice is stored once); returns it."""
        if self._out is None:
            raise ValueError("the blob is already committed or aborted")
        out, self._out = self._out, None
        try:
            out.close()
            sha = self._digest.hexdigest()
            final = _under(self._root, sha)
            final.parent.mkdir(mode=0o700, exist_ok=True)
            os.replace(self._tmp, final)
        finally:
            self._remove_tmp()
        return sha

    def abort(self) -> None:
        """Drop what was written (safe to call more than once, and after commit)."""
        out, self._out = self._out, None
        if out is not None:
            out.close()
        self._remove_tmp()

    def _remove_tmp(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


def put_blob(
    conn: sqlite3.Connection, src: IO[bytes], limit: int = MAX_FILE_BYTES
) -> tuple[str, int]:
    """Store what `src` holds (at most `limit` bytes, else InvalidInput('path')); returns its
    sha256 and size. The same content twice is stored once."""
    writer = BlobWriter(conn)
    try:
        while chunk := src.read(CHUNK):
            if writer.size + len(chunk) > limit:
                raise InvalidInput("path", f"the file is over {limit // (1024 * 1024)} MiB")
            writer.write(chunk)
        return writer.commit(), writer.size
    finally:
        writer.abort()


def blob_size(conn: sqlite3.Connection, sha256: str) -> int | None:
    """The size of a stored file, or None when no file has that sha256 (or it is not one)."""
    if not SHA256_RE.fullmatch(sha256):
        return None
    try:
        st = os.lstat(blob_path(conn, sha256))
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


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
