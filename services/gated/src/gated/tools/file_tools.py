"""`send_file`: a file of the group folder sent as an outbound attachment. The file is opened
without following a final symlink and its real path checked on the open descriptor, so a link
planted in the folder (or swapped in between a check and the open) cannot send a file from
outside it; the bytes are copied into the store's files (`store.blobs`) at the call."""

from __future__ import annotations

import contextlib
import mimetypes
import os
import stat
from typing import Any

import store
from store import blobs
from store.paths import group_path

from gated.tools.args import SendFile
from gated.tools.chat_tools import target_jid
from gated.tools.context import CallContext, check_send_to
from gated.tools.protocol import ToolError

MAX_NAME = 255


def _open_in_folder(folder: str, path: str) -> tuple[int, str]:
    """A read descriptor of a regular file that really lies in `folder`, and its real path;
    else ToolError."""
    candidate = path if os.path.isabs(path) else os.path.join(folder, path)
    try:
        fd = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ToolError(
            "invalid_argument", f"cannot open {path[:200]!r}: {exc.strerror}", "path"
        ) from None
    try:
        real = os.path.realpath(f"/proc/self/fd/{fd}")
        if os.path.commonpath([real, folder]) != folder:
            raise ToolError("refused", f"{path[:200]!r} is not inside the group folder", "path")
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ToolError("invalid_argument", f"{path[:200]!r} is not a regular file", "path")
    except BaseException:
        os.close(fd)
        raise
    return fd, real


def send_file(ctx: CallContext, args: SendFile) -> dict[str, Any]:
    run = ctx.run
    jid = target_jid(args.chat_jid, ctx)
    check_send_to(ctx, jid)
    folder = os.path.realpath(group_path(ctx.conn, run.folder))
    fd, real = _open_in_folder(folder, args.path)
    with contextlib.closing(os.fdopen(fd, "rb")) as src:
        try:
            sha, size = blobs.put_blob(ctx.conn, src)
        except store.InvalidInput as exc:
            raise ToolError("invalid_argument", str(exc), "path") from None
    name = os.path.basename(
        os.path.realpath(f"{folder}/{args.path}") if not os.path.isabs(args.path) else args.path
    )
    name = "".join(ch for ch in os.path.basename(real) if ch.isprintable())[:MAX_NAME] or "file"
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    entry = blobs.file_entry(name, content_type, size, sha)
    try:
        seq = store.store_outbound(
            ctx.conn,
            jid,
            args.caption or name,
            group_folder=run.folder,
            source="tool",
            topic=run.topic if jid == run.chat_jid else "",
            sender=run.folder,
            msg_id=ctx.effect_id,
            traceparent=ctx.run.traceparent,
            attachments=[entry],
        )
    except store.InvalidInput as exc:
        raise ToolError("invalid_argument", str(exc), "caption") from None
    return {"chat_jid": jid, "seq": seq, "message_id": ctx.effect_id, "file": entry}
