"""The audit log (`audit_log`): one row per administrative change — who, from where, what, the
object before and after — written inside the transaction that makes the change; pages of it,
newest first, by actor, origin, action, target and time. Secret values never reach it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args

from store import validate
from store.activity import first_id_since
from store.clock import day_or_time, now_iso
from store.errors import InvalidInput, OutsideTransaction

Origin = Literal["cli", "dashboard", "chat", "tool"]
ORIGINS: Final[tuple[str, ...]] = get_args(Origin)
# Every action the log knows, `<object>.<verb>`; docs/security.md says which command or page
# writes each one.
Action = Literal[
    "group.add",
    "group.remove",
    "group.config.set",
    "group.parent.set",
    "persona.set",
    "route.add",
    "route.remove",
    "share.create",
    "share.rotate",
    "share.revoke",
    "share.origins.set",
    "secret.set",
    "secret.remove",
    "user.add",
    "user.remove",
    "user.password.set",
    "task.add",
    "task.pause",
    "task.resume",
    "task.remove",
    "task.run_now",
    "onboarding.approve",
    "onboarding.reject",
]
ACTIONS: Final[tuple[str, ...]] = get_args(Action)

# Keys whose values are never stored, at any depth of `before`/`after`: callers never pass a
# secret, and this is the second line (a secret's value, a password or its hash, a share token
# or its hash).
SECRET_KEYS: Final = frozenset(
    {"value", "password", "hash", "password_hash", "token", "token_hash", "sealed", "secret"}
)
REDACTED: Final = "[redacted]"
MAX_JSON_CHARS: Final = 16_000  # a bigger before/after is kept as its size and hash
MAX_NAME_CHARS: Final = 200  # actor, remote and target are cut to this
MAX_PAGE: Final = 1000
FILTERS: Final = ("actor", "origin", "action", "target")

INSERT_SQL: Final = """
INSERT INTO audit_log (at, actor, origin, remote, action, target, before, after)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
# Parameters: the first id of the --since window, the id the page ends before, then one value
# per filter given (`{filters}`: ` AND <column> = ?` each, columns from FILTERS only), then the
# page size. Each filter has its (column, id) index: one range read newest first, no sort.
ENTRIES_SQL: Final = (
    "SELECT * FROM audit_log WHERE id >= ? AND id < ?{filters} ORDER BY id DESC LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change and from where (docs/security.md: what each origin records)."""

    name: str  # OS user (cli), dashboard user, sender (chat), 'agent:<folder>' (tool)
    origin: Origin
    remote: str = ""  # 'host=… tty=…' (cli), client IP (dashboard), chat jid, run (tool)


@dataclass(frozen=True, slots=True)
class Change:
    """One top-level key that differs between before and after (None: absent)."""

    key: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the log, its before/after decoded from JSON."""

    id: int
    at: str
    actor: str
    origin: str
    remote: str
    action: str
    target: str
    before: Any
    after: Any

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AuditEntry:
        values = {name: row[name] for name in cls.__slots__}
        for side in ("before", "after"):
            values[side] = json.loads(values[side]) if values[side] is not None else None
        return cls(**values)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def changes(self) -> list[Change]:
        """What differs, key by key, when both sides are objects (or one is absent); one
        change under the key '' otherwise."""
        old, new = self.before, self.after
        if not isinstance(old or {}, dict) or not isinstance(new or {}, dict):
            return [Change("", old, new)] if old != new else []
        old, new = old or {}, new or {}
        keys = sorted(set(old) | set(new))
        return [Change(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which rows to list; None matches everything."""

    actor: str | None = None
    origin: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None

    @classmethod
    def parse(
        cls,
        *,
        actor: str | None = None,
        origin: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: str | None = None,
    ) -> AuditQuery:
        """Filters from outside (CLI options, the page's form; '' = not given), checked:
        InvalidInput naming the filter."""
        if origin and origin not in ORIGINS:
            raise InvalidInput("origin", f"{origin[:40]!r} is not one of {', '.join(ORIGINS)}")
        if action and action not in ACTIONS:
            raise InvalidInput(
                "action", f"{action[:40]!r} is not an audited action (see docs/security.md)"
            )
        for field, value in (("actor", actor), ("target", target)):
            validate.short_text(value or "", field)
        return cls(
            actor=actor or None,
            origin=origin or None,
            action=action or None,
            target=target or None,
            since=day_or_time(since) if since else None,
        )


def _redacted(value: Any) -> Any:
    """`value` as plain JSON data (dataclasses as their fields), secret keys' values replaced."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {
            str(k): REDACTED if str(k).lower() in SECRET_KEYS else _redacted(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def json_text(value: object) -> str | None:
    """`value` as stored: None stays NULL; a dataclass becomes its fields; secret keys are
    redacted; text past MAX_JSON_CHARS becomes its size and SHA-256."""
    if value is None:
        return None
    text = json.dumps(_redacted(value), sort_keys=True, ensure_ascii=False, default=str)
    if len(text) <= MAX_JSON_CHARS:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()
    return json.dumps({"truncated": True, "chars": len(text), "sha256": digest})


def record(
    conn: sqlite3.Connection,
    actor: Actor | None,
    action: Action,
    target: str,
    *,
    before: object = None,
    after: object = None,
) -> int | None:
    """Log one change inside the caller's open write transaction (OutsideTransaction when
    none is open): the change and its row commit together or not at all. `actor` None is a
    change nobody administers (a daemon's own: onbod registering an approved world, timed
    completing a one-shot task, an agent's own reminder): nothing is logged. An action whose
    logged fields did not change is logged all the same (a paused task paused again; a share
    link rotated: its token, not logged, did change). Returns the row's id."""
    if actor is None:
        return None
    if not conn.in_transaction:
        raise OutsideTransaction(f"audit.record({action!r}) needs the change's transaction")
    if actor.origin not in ORIGINS:
        raise InvalidInput("origin", f"{actor.origin!r} is not one of {', '.join(ORIGINS)}")
    cur = conn.execute(
        INSERT_SQL,
        (
            now_iso(),
            actor.name[:MAX_NAME_CHARS] or "?",
            actor.origin,
            actor.remote[:MAX_NAME_CHARS],
            action,
            target[:MAX_NAME_CHARS],
            json_text(before),
            json_text(after),
        ),
    )
    return cur.lastrowid


def entries(
    conn: sqlite3.Connection,
    query: AuditQuery | None = None,
    *,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """A page of the log, newest first: rows matching `query` with an id below `before_id`
    (the previous page's last id; None: from the newest)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("limit", f"must be 1 to {MAX_PAGE}, got {limit}")
    query = query or AuditQuery()
    first = first_id_since(conn, "audit_log", query.since) if query.since else 0
    given = [(c, getattr(query, c)) for c in FILTERS if getattr(query, c) is not None]
    sql = ENTRIES_SQL.format(filters="".join(f" AND {c} = ?" for c, _ in given))
    params = [first, before_id if before_id is not None else 2**63 - 1]
    rows = conn.execute(sql, [*params, *(v for _, v in given), limit])
    return [AuditEntry.from_row(r) for r in rows]
