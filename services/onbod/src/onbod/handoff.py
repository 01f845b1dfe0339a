"""Turning an onboarded chat into a group: the name check, the registration and the re-post
of the stranger's original request that gated then answers (DESIGN section 6)."""

from __future__ import annotations

import hashlib
import logging
import sqlite3

import store
from store import bus
from store.paths import group_path, remove_unused_group_dir
from store.persona import is_unused_group_dir

from onbod import names, records

log = logging.getLogger(__name__)

HANDOFF_PREFIX = "onboard:"


def handoff_id(original_id: str) -> str:
    """Id of the re-posted request: `onboard:<original id>` (hashed when that would be too long)."""
    candidate = HANDOFF_PREFIX + original_id
    if len(candidate) <= store.validate.MAX_SHORT_TEXT:
        return candidate
    return HANDOFF_PREFIX + hashlib.sha256(original_id.encode()).hexdigest()


def taken_reason(conn: sqlite3.Connection, name: str, jid: str) -> str | None:
    """Why `name` cannot become `jid`'s world (None when it is free)."""
    owner = store.folder_owner(conn, name)
    if owner is not None:
        return f"folder {name!r} already belongs to {owner}"
    holder = records.pending_holder(conn, name)
    if holder is not None and holder != jid:
        return f"world name {name!r} is already requested by {holder}"
    path = group_path(conn, name)
    if path.is_dir() and not is_unused_group_dir(path, name):
        return f"a non-empty group directory {str(path)!r} already exists"
    return None


def generated_name(conn: sqlite3.Connection, jid: str) -> str:
    """A free world name for `jid` (policy `open`)."""
    for name in names.candidates(jid):
        if taken_reason(conn, name, jid) is None:
            return name
    return f"{names.FALLBACK}-{hashlib.sha256(jid.encode()).hexdigest()[:12]}"


def register_world(conn: sqlite3.Connection, jid: str, name: str, first_seq: int | None) -> bool:
    """Inside the caller's transaction: register the group with its default route and re-post
    the original request (message `first_seq`) for gated. True when a request was re-posted.
    A stranger's group always runs its agent in the sandbox (`sandbox=bwrap`)."""
    store.register_group(conn, jid, name, name=name)
    store.update_folder_settings(conn, name, {"sandbox": "bwrap"}, [])
    store.add_route(conn, jid, "default", "", name)
    original = store.get_message(conn, first_seq) if first_seq is not None else None
    if original is None or original.chat_jid != jid:
        log.warning("no original request to hand off jid=%s first_seq=%s", jid, first_seq)
        return False
    # Hand-off contract with gated: the chat's agent cursor starts just below the re-post, so
    # whatever the stranger said before (the original included) is never fed to the agent a
    # second time, however gated's scan interleaves with this transaction.
    store.set_state(conn, bus.agent_cursor(jid), str(store.latest_seq(conn)))
    store.put_message(
        conn,
        store.NewMessage(
            id=handoff_id(original.id),
            chat_jid=jid,
            content=original.content,
            sender=original.sender,
            sender_name=original.sender_name,
            verb=original.verb,
            source=bus.ONBOARDING_SENDER,
            topic=original.topic,
            reply_to_id=original.id,
            attachments=original.attachments or None,
        ),
    )
    return True


def make_group_dir(conn: sqlite3.Connection, name: str) -> None:
    """Create the group's directory with its persona and memory (never inside a transaction:
    it is file-system work)."""
    group_path(conn, name, create=True)


def remove_empty_group_dir(conn: sqlite3.Connection, name: str) -> None:
    """Undo make_group_dir() for a world that did not come to be (only if nothing but the
    untouched seed is in it)."""
    remove_unused_group_dir(conn, name)
