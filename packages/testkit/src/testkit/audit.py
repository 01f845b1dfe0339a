"""Reading the audit log in tests of what writes it (the CLI, dashd, gated): the entries past
a point, oldest first, and whether a logged before/after holds the expected values."""

from __future__ import annotations

import sqlite3
from typing import Any

from store import audit
from store.audit import AuditEntry, AuditQuery


def entries_after(
    conn: sqlite3.Connection, after_id: int = 0, query: AuditQuery | None = None
) -> list[AuditEntry]:
    """The entries with an id past `after_id` (matching `query`), oldest first."""
    found = audit.entries(conn, query, limit=audit.MAX_PAGE)
    return [e for e in reversed(found) if e.id > after_id]


def last_id(conn: sqlite3.Connection) -> int:
    """The newest entry's id; 0 when the log is empty."""
    found = audit.entries(conn, limit=1)
    return found[0].id if found else 0


def holds(value: Any, subset: dict[str, Any] | None) -> bool:
    """With `subset` None: `value` is None (absent); else `value` is an object holding each
    of the subset's key-values."""
    if subset is None:
        return value is None
    return isinstance(value, dict) and all(value.get(k) == v for k, v in subset.items())
