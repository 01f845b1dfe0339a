"""A group folder's persona (`CLAUDE.md`) and memory (`memory/`): what a new folder starts with
(from the template shipped in this package), reading it for people, and replacing it for the
operator. The folder is writable by its agent, so nothing here follows a link or opens
anything but a plain file."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from importlib import resources
from pathlib import Path
from string import Template
from typing import Final

from store.errors import InvalidInput, UnsafeFile

PERSONA_FILE: Final = "CLAUDE.md"
MEMORY_DIR: Final = "memory"
MAX_PERSONA_BYTES: Final = 64 * 1024
# O_NONBLOCK: a FIFO planted in place of the file must not hang the reader.
READ_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def persona_template(folder: str) -> str:
    """The CLAUDE.md a new group folder starts with, its name filled in."""
    text = resources.files("store").joinpath("templates", PERSONA_FILE).read_text("utf-8")
    return Template(text).substitute(folder=folder)


def seed_group_dir(path: Path, folder: str) -> bool:
    """Give an empty group directory its persona and `memory/`; True when it did. A directory
    with anything in it is left as it is: an existing CLAUDE.md is never replaced (it is
    created with O_EXCL, so two processes seeding at once write it once)."""
    if any(path.iterdir()):
        return False
    (path / MEMORY_DIR).mkdir(exist_ok=True)
    try:
        fd = os.open(path / PERSONA_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(persona_template(folder))
    return True


def is_unused_group_dir(path: Path, folder: str) -> bool:
    """True when the directory holds nothing, or only what seed_group_dir put there, unchanged
    (so the name of a group that never came to be is free again)."""
    names = {p.name for p in path.iterdir()}
    if not names:
        return True
    if names != {PERSONA_FILE, MEMORY_DIR}:
        return False
    memory = path / MEMORY_DIR
    if memory.is_symlink() or not memory.is_dir() or any(memory.iterdir()):
        return False
    try:
        return read_persona(path) == persona_template(folder)
    except UnsafeFile:
        return False


def read_persona(path: Path) -> str | None:
    """The folder's CLAUDE.md (None when there is none); at most MAX_PERSONA_BYTES of it, as
    UTF-8 with undecodable bytes replaced. UnsafeFile when it is not a plain file."""
    target = path / PERSONA_FILE
    try:
        fd = os.open(target, READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        kind = "a symlink" if exc.errno == errno.ELOOP else f"unreadable ({exc.strerror})"
        raise UnsafeFile(f"{target} is {kind}, not a plain file; not read") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeFile(f"{target} is not a plain file; not read")
    with os.fdopen(fd, "rb") as f:
        return f.read(MAX_PERSONA_BYTES).decode("utf-8", errors="replace")


def check_persona(data: bytes) -> str:
    """A new persona's bytes as text: UTF-8, no NUL, at most MAX_PERSONA_BYTES."""
    if len(data) > MAX_PERSONA_BYTES:
        raise InvalidInput(
            "persona", f"is {len(data)} bytes; at most {MAX_PERSONA_BYTES} are allowed"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("persona", f"is not UTF-8 text (byte {exc.start})") from None
    if "\x00" in text:
        raise InvalidInput("persona", "contains a NUL character")
    return text


def write_persona(path: Path, data: bytes) -> None:
    """Replace the folder's CLAUDE.md with `data` (checked by check_persona) atomically: a
    temporary file in the folder renamed over it. Refused (UnsafeFile) when CLAUDE.md is a
    symlink or anything but a plain file: an agent may plant one to have the operator's write
    land elsewhere."""
    text = check_persona(data)
    target = path / PERSONA_FILE
    if path.is_symlink() or not path.is_dir():
        raise UnsafeFile(f"{path} is not a directory; nothing written")
    with contextlib.suppress(FileNotFoundError):
        mode = os.lstat(target).st_mode
        if not stat.S_ISREG(mode):
            kind = "a symlink" if stat.S_ISLNK(mode) else "not a plain file"
            raise UnsafeFile(f"{target} is {kind}; refusing to write through it")
    fd, tmp = tempfile.mkstemp(prefix=".CLAUDE.md.", dir=path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        # rename() replaces the directory entry itself: even a link planted after the check
        # above is replaced, never written through.
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
