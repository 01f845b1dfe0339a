"""onbod's public functions for gated's /approve and /reject, dashd's buttons and the CLI.
Signatures are the contract; see DESIGN.md section 6. The caller opened the store with onbod's
schema (`store.open(path, {"onbod": MIGRATIONS})`); the read functions also work on a
read-only connection before it was ever applied."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime

import store
from store import audit, bus
from store.audit import Actor

from onbod import handoff, records, texts
from onbod.models import STATUSES, Decision, Onboarding, OnboardingStatus

__all__ = [
    "Decision",
    "Onboarding",
    "OnboardingStatus",
    "approve",
    "get",
    "list_onboarding",
    "pending",
    "reject",
]

log = logging.getLogger(__name__)

REJECTABLE: tuple[OnboardingStatus, ...] = ("pending", "awaiting_name")


def _readable(conn: sqlite3.Connection) -> bool:
    """False when onbod's schema was never applied to this database (a read-only connection,
    dashd's pages, may look before any process using onbod started)."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'onboarding'"
    ).fetchone()
    return row is not None


def _now(now: datetime | None) -> str:
    return store.iso(now) if now is not None else store.now_iso()


def _already(row: Onboarding) -> str:
    if row.status in ("approved", "rejected"):
        who = f" by {row.decided_by}" if row.decided_by else ""
        when = f" at {row.decided_at}" if row.decided_at else ""
        return f"{row.jid} was already {row.status}{who}{when}"
    if row.status == "awaiting_name":
        return f"{row.jid} has not chosen a world name yet"
    if row.status == "ignored":
        return f"{row.jid} was only recorded (policy closed); it has not asked for a world"
    return f"{row.jid} is {row.status}, not pending"


def get(conn: sqlite3.Connection, jid: str) -> Onboarding | None:
    """One chat's onboarding row, if any."""
    return records.get(conn, jid) if _readable(conn) else None


def approve(
    conn: sqlite3.Connection,
    jid: str,
    by: str,
    *,
    now: datetime | None = None,
    actor: Actor | None = None,
) -> Decision:
    """Compare-and-set pending -> approved; registers the group and hands over the first message.
    `by` is the decider as the row shows it; with an `actor`, the approval is logged as
    `onboarding.approve` (a refused one is not: nothing changed)."""
    store.validate.jid(jid, "jid")
    store.validate.short_text(by, "by")
    seen = records.get(conn, jid)
    if seen is None:
        return Decision(False, f"no onboarding request for {jid}", None)
    if seen.status != "pending" or not seen.world_name:
        return Decision(False, _already(seen), seen)
    name = seen.world_name
    # The directory exists before gated can see the hand-off message (agents run inside it).
    handoff.make_group_dir(conn, name)
    decision = _approve_in_tx(conn, seen, name, by, _now(now), actor)
    final = records.get(conn, jid)
    if not decision.ok and (final is None or final.status != "approved"):
        handoff.remove_empty_group_dir(conn, name)
    return decision


def _approve_in_tx(
    conn: sqlite3.Connection, seen: Onboarding, name: str, by: str, now: str, actor: Actor | None
) -> Decision:
    jid = seen.jid
    with store.tx(conn):
        current = records.get(conn, jid)
        if current is None or current.status != "pending" or current.world_name != name:
            return Decision(False, _already(current or seen), current)
        owner = store.folder_owner(conn, name)
        if owner is not None:
            return Decision(
                False, f"folder {name!r} already belongs to {owner}; reject {jid} instead", current
            )
        if store.get_group(conn, jid) is not None:
            return Decision(False, f"{jid} is already registered", current)
        if not records.set_fields(
            conn, jid, "pending", status="approved", decided_by=by, decided_at=now
        ):
            return Decision(False, _already(records.get(conn, jid) or current), current)
        store.store_outbound(
            conn,
            jid,
            texts.approved(name),
            source=bus.ONBOARDING_SENDER,
            sender=bus.ONBOARDING_SENDER,
        )
        handoff.register_world(conn, jid, name, current.first_seq)
        result = records.get(conn, jid)
        audit.record(conn, actor, "onboarding.approve", jid, before=current, after=result)
    log.info("approved jid=%s world=%s by=%s", jid, name, by)
    return Decision(True, f"approved {jid} as world {name!r}", result)


def reject(
    conn: sqlite3.Connection,
    jid: str,
    by: str,
    reason: str = "",
    *,
    now: datetime | None = None,
    actor: Actor | None = None,
) -> Decision:
    """Compare-and-set pending (or awaiting_name) -> rejected; tells the sender with the reason.
    With an `actor`, logged as `onboarding.reject` (a refused one is not)."""
    store.validate.jid(jid, "jid")
    store.validate.short_text(by, "by")
    store.validate.short_text(" ".join(reason.split()), "reason")
    stamp = _now(now)
    with store.tx(conn):
        current = records.get(conn, jid)
        if current is None:
            return Decision(False, f"no onboarding request for {jid}", None)
        if current.status not in REJECTABLE:
            return Decision(False, _already(current), current)
        if not records.set_fields(
            conn,
            jid,
            current.status,
            status="rejected",
            decided_by=by,
            decided_at=stamp,
            reason=reason.strip(),
        ):
            return Decision(False, _already(records.get(conn, jid) or current), current)
        store.store_outbound(
            conn,
            jid,
            texts.rejected(current.world_name, reason),
            source=bus.ONBOARDING_SENDER,
            sender=bus.ONBOARDING_SENDER,
        )
        result = records.get(conn, jid)
        audit.record(conn, actor, "onboarding.reject", jid, before=current, after=result)
    log.info("rejected jid=%s by=%s reason=%r", jid, by, reason)
    return Decision(True, f"rejected {jid}", result)


def pending(conn: sqlite3.Connection) -> list[Onboarding]:
    """Onboardings awaiting an operator's decision, oldest first."""
    if not _readable(conn):
        return []
    return records.list_rows(conn, "pending", 10_000, oldest_first=True)


def list_onboarding(
    conn: sqlite3.Connection, status: OnboardingStatus | None = None, limit: int = 200
) -> list[Onboarding]:
    """Every onboarding row (optionally of one status), newest first."""
    if status is not None and status not in STATUSES:
        raise store.InvalidInput("status", f"unknown status {status!r}; one of {STATUSES}")
    if limit < 1:
        raise store.InvalidInput("limit", f"must be at least 1, got {limit}")
    if not _readable(conn):
        return []
    return records.list_rows(conn, status, limit, oldest_first=False)
