"""Schema owned by onbod (the `onboarding` table), applied once at the start of each process
that uses it: `store.open(path, {"onbod": MIGRATIONS, ...})`."""

from __future__ import annotations

import logging
import sqlite3

from store.connection import execute_script
from store.group_settings import stored_settings, update_folder_settings
from store.migrator import Migration

log = logging.getLogger(__name__)

MIGRATIONS: list[Migration] = []
migration = MIGRATIONS.append


@migration
def m001_onboarding(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- One row per chat that wrote to us without a registered_groups row.
        CREATE TABLE onboarding (
            jid           TEXT PRIMARY KEY,   -- the unknown chat
            status        TEXT NOT NULL
                          CHECK (status IN ('awaiting_name', 'pending', 'approved', 'rejected',
                                            'ignored')),  -- 'ignored': recorded under 'closed'
            world_name    TEXT,               -- requested (or generated) group folder
            prompted_at   TEXT,               -- last "say why and ask again" (1/min limit)
            first_seq     INTEGER,            -- messages.seq of the chat's original request
            first_message TEXT,               -- its content, shown to operators
            decided_by    TEXT,               -- operator (or 'policy:open') who decided
            decided_at    TEXT,
            reason        TEXT,               -- rejection reason given to the sender
            created_at    TEXT NOT NULL,      -- first message seen
            greeted_at    TEXT,               -- greeting sent (NULL: not yet, e.g. greeting cap)
            requested_at  TEXT,               -- became 'pending' (hourly cap of new requests)
            reminded_at   TEXT,               -- last "still waiting" reminder (1/hour limit)
            prompts       INTEGER NOT NULL DEFAULT 0,  -- messages onbod sent to the chat
            messages      INTEGER NOT NULL DEFAULT 0   -- messages received while unregistered
        );
        -- pending() and `list --status` (oldest/newest first within a status).
        CREATE INDEX onboarding_status ON onboarding (status, created_at);
        -- A world name is held by at most one pending request (checked again on approval).
        CREATE UNIQUE INDEX onboarding_pending_name ON onboarding (world_name)
            WHERE status = 'pending';
        -- The hourly caps: requests made and greetings sent since a time.
        CREATE INDEX onboarding_requested ON onboarding (requested_at)
            WHERE requested_at IS NOT NULL;
        CREATE INDEX onboarding_greeted ON onboarding (greeted_at) WHERE greeted_at IS NOT NULL;
        """,
    )


@migration
def m002_strangers_sandboxed(conn: sqlite3.Connection) -> None:
    """Groups onbod made for strangers before folder settings existed get `sandbox=bwrap`, as
    every stranger's group made since does; a folder whose sandbox was set is left alone."""
    rows = conn.execute(
        "SELECT o.world_name FROM onboarding o "
        "JOIN registered_groups g ON g.jid = o.jid AND g.folder = o.world_name "
        "WHERE o.status = 'approved' ORDER BY o.world_name"
    ).fetchall()
    for (folder,) in rows:
        if "sandbox" in stored_settings(conn, folder):
            continue
        update_folder_settings(conn, folder, {"sandbox": "bwrap"}, [])
        log.warning("a stranger's group now requires the sandbox folder=%s", folder)
