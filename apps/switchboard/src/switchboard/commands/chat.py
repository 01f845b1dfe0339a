"""`switchboard chat FOLDER`: talk to a group's agent from the terminal through the `cli:FOLDER`
chat; each line typed is a message, replies are printed as they arrive. Ctrl-D/Ctrl-C quits."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Annotated

import store
import typer

from switchboard.cli_actor import cli_actor
from switchboard.options import DbOption, opened

FOLLOW_WAKE_S = 1.0


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)


def chat(
    folder: Annotated[str, typer.Argument(help="Group folder to talk to (e.g. demo).")],
    db: DbOption = None,
    user: Annotated[str, typer.Option(help="Your name as the sender (default: $USER).")] = "",
    wait: Annotated[
        float,
        typer.Option(help="At end of input, wait up to this many seconds for the replies."),
    ] = 10.0,
) -> None:
    """Chat with a group's agent in the terminal (chat jid cli:FOLDER). Ctrl-D or Ctrl-C quits."""
    path = store.resolve_db_path(db)
    with opened(db) as conn:
        jid = ensure_cli_chat(conn, folder)
        cursor = store.latest_seq(conn)
    sender = user or os.environ.get("USER") or "cli"
    stop = threading.Event()
    replies: list[int] = []
    follower = threading.Thread(
        target=follow_replies,
        args=(path, jid, cursor, stop, replies),
        name="replies",
        daemon=True,
    )
    follower.start()
    typer.echo(f"chatting with {folder} as {sender} ({jid}); Ctrl-D to quit", err=True)
    conn = store.connect(path)
    try:
        sent = send_lines(conn, jid, sender)
        # Piped input (`echo hi | switchboard chat demo`) ends at once: give the answers time.
        deadline = time.monotonic() + wait
        while len(replies) < sent and time.monotonic() < deadline and follower.is_alive():
            time.sleep(0.05)
    except KeyboardInterrupt:
        typer.echo("", err=True)
    finally:
        stop.set()
        follower.join(timeout=FOLLOW_WAKE_S * 2)
        conn.close()


def ensure_cli_chat(conn: sqlite3.Connection, folder: str) -> str:
    """Register `cli:FOLDER` to FOLDER (so the folder's agent answers it) unless it already is."""
    store.validate.folder(folder)
    jid = f"cli:{folder}"
    if store.get_group(conn, jid) is not None:
        return jid
    existing = store.groups_for_folder(conn, folder)
    if not existing:
        raise store.NotFound(
            f"folder {folder!r} has no registered chat; register one first, e.g. "
            f"`switchboard group add web:{folder} {folder}`"
        )
    store.register_group(conn, jid, folder, name=f"{folder} (terminal)", actor=cli_actor())
    return jid


def send_lines(conn: sqlite3.Connection, jid: str, sender: str) -> int:
    """Store each non-empty stdin line as a message from `sender` until end of input; returns
    how many were sent."""
    prompt = "> " if sys.stdin.isatty() else ""
    sent = 0
    while True:
        try:
            line = input(prompt)
        except EOFError:
            return sent
        if not line.strip():
            continue
        sent += 1
        store.put_message(
            conn,
            store.NewMessage(
                id=f"cli:{uuid.uuid4().hex}",
                chat_jid=jid,
                content=line,
                sender=sender,
                sender_name=sender,
                source="cli",
            ),
        )


def follow_replies(
    path: Path, jid: str, cursor: int, stop: threading.Event, replies: list[int]
) -> None:
    """Print the chat's outbound messages (is_from_me) stored after `cursor` as they arrive,
    appending each one's seq to `replies`."""
    conn = store.connect(path)
    try:
        while not stop.is_set():
            for msg in store.messages_since(conn, jid, cursor):
                cursor = msg.seq
                if msg.is_from_me:
                    typer.echo(msg.content)
                    replies.append(msg.seq)
            store.wait_for_change(conn, FOLLOW_WAKE_S, stop)
    finally:
        conn.close()
