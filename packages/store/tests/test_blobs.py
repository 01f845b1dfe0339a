"""store.blobs: files kept by sha256, written whole or not at all."""

from __future__ import annotations

import hashlib
import io
import sqlite3

import pytest
import store
from store import blobs


def leftovers(conn: sqlite3.Connection) -> list[str]:
    root = blobs.files_dir(conn)
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_file_written_in_pieces_is_stored_under_its_sha256(db: sqlite3.Connection) -> None:
    writer = blobs.BlobWriter(db)
    for piece in (b"hello ", b"world"):
        writer.write(piece)
    sha = writer.commit()
    assert sha == hashlib.sha256(b"hello world").hexdigest()
    assert blobs.blob_path(db, sha).read_bytes() == b"hello world"
    assert blobs.blob_size(db, sha) == 11
    writer.abort()  # after commit: nothing to undo
    assert leftovers(db) == [sha]


def test_the_same_content_twice_is_one_file(db: sqlite3.Connection) -> None:
    first = blobs.put_blob(db, io.BytesIO(b"same"))
    assert blobs.put_blob(db, io.BytesIO(b"same")) == first
    assert leftovers(db) == [first[0]]


def test_an_aborted_file_leaves_nothing(db: sqlite3.Connection) -> None:
    writer = blobs.BlobWriter(db)
    writer.write(b"half of it")
    writer.abort()
    writer.abort()
    assert leftovers(db) == []
    with pytest.raises(ValueError, match="already committed or aborted"):
        writer.write(b"more")


def test_a_file_over_the_limit_is_refused_and_leaves_nothing(db: sqlite3.Connection) -> None:
    with pytest.raises(store.InvalidInput, match="path"):
        blobs.put_blob(db, io.BytesIO(b"x" * 100), limit=99)
    assert leftovers(db) == []


@pytest.mark.parametrize("name", ["0" * 64, "../etc/passwd", "A" * 64, ""])
def test_blob_size_of_what_is_not_stored_is_none(db: sqlite3.Connection, name: str) -> None:
    assert blobs.blob_size(db, name) is None
