"""Inbound files for the agent: before a run, each uploaded file its messages carry is copied
from files/ into the group folder's `inbox/<sha256[:12]>-<safe name>`, and the agent's
message objects name it by that path. The folder is the agent's (hostile) ground: nothing it
put there (a symlink for inbox/ or for a file's name) makes gated write outside it."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import sqlite3
import stat
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any, Final

from store import Message, blobs

from gated.filenames import inbox_name

log = logging.getLogger(__name__)

INBOX: Final = "inbox"
DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
NEW_FILE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW


def inbox_path(entry: dict[str, Any]) -> str:
    """Where a stored-file attachment is put, relative to the group folder."""
    return f"{INBOX}/{inbox_name(entry['file'], str(entry.get('name', '')))}"


def place_files(conn: sqlite3.Connection, group_dir: Path, messages: Iterable[Message]) -> set[str]:
    """Copy the messages' uploaded files into `group_dir`/inbox/; the paths (relative to the
    folder) that are now there. A file that cannot be placed is logged and left out."""
    wanted = {
        inbox_path(entry): entry["file"]
        for m in messages
        for entry in blobs.stored_files(m.attachments)
    }
    if not wanted:
        return set()
    try:
        inbox_fd = open_inbox(group_dir)
    except OSError as exc:
        log.warning("cannot make the inbox folder=%s: %s", group_dir.name, exc)
        return set()
    placed: set[str] = set()
    try:
        for path, sha in sorted(wanted.items()):
            try:
                copy_in(conn, inbox_fd, path.removeprefix(f"{INBOX}/"), sha)
            except OSError as exc:
                log.warning("cannot place a file folder=%s file=%s: %s", group_dir.name, sha, exc)
                continue
            placed.add(path)
    finally:
        os.close(inbox_fd)
    return placed


def open_inbox(group_dir: Path) -> int:
    """A descriptor of `group_dir`/inbox, made when missing; a symlink or file in its place
    (the agent's doing) is removed first. Opened without following symlinks: one that appears
    meanwhile is an OSError, never a way out of the folder."""
    group_fd = os.open(group_dir, DIR_FLAGS)
    try:
        try:
            st: os.stat_result | None = os.stat(INBOX, dir_fd=group_fd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            log.warning("inbox was not a directory, replaced folder=%s", group_dir.name)
            os.unlink(INBOX, dir_fd=group_fd)
            st = None
        if st is None:
            os.mkdir(INBOX, 0o700, dir_fd=group_fd)
        return os.open(INBOX, DIR_FLAGS, dir_fd=group_fd)
    finally:
        os.close(group_fd)


def copy_in(conn: sqlite3.Connection, inbox_fd: int, name: str, sha: str) -> None:
    """Copy one stored file to `name` in the inbox: written to a fresh temporary name, then
    renamed over `name` (a symlink there is replaced, never followed)."""
    tmp = f".incoming-{secrets.token_hex(8)}"
    with blobs.blob_path(conn, sha).open("rb") as src:
        fd = os.open(tmp, NEW_FILE_FLAGS, 0o600, dir_fd=inbox_fd)
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out, blobs.CHUNK)
            os.replace(tmp, name, src_dir_fd=inbox_fd, dst_dir_fd=inbox_fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=inbox_fd)
            raise


def agent_attachments(m: Message, placed: Collection[str]) -> list[dict[str, Any]]:
    """The uploaded files of a message as the agent sees them; `path` (relative to the group
    folder) only when the file is there."""
    out: list[dict[str, Any]] = []
    for entry in blobs.stored_files(m.attachments):
        item = {
            "name": entry.get("name"),
            "type": entry.get("type"),
            "size": entry.get("size"),
            "sha256": entry["file"],
        }
        path = inbox_path(entry)
        if path in placed:
            item["path"] = path
        out.append(item)
    return out
