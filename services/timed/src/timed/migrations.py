"""Schema owned by timed (`scheduled_tasks`, `task_runs`), applied once at the start of each
process that uses it: `store.open(path, {"timed": MIGRATIONS, ...})`."""

from __future__ import annotations

import sqlite3

from store import execute_script
from store.migrator import Migration

MIGRATIONS: list[Migration] = []
migration = MIGRATIONS.append


@migration
def m001_scheduled_tasks(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        CREATE TABLE scheduled_tasks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            owner TEXT NOT NULL DEFAULT 'cli',        -- who created it (cli, dashd:<user>, ...)
            chat_jid TEXT NOT NULL,                   -- the registered chat the prompt goes to
            group_folder TEXT NOT NULL,               -- that chat's folder when the task was added
            prompt TEXT NOT NULL,                     -- message content posted at each slot
            kind TEXT NOT NULL CHECK (kind IN ('cron', 'interval', 'once')),
            cron TEXT,                                -- kind=cron: expression (6th field = secs)
            interval_s INTEGER,                       -- kind=interval: seconds between slots
            run_at TEXT,                              -- kind=once: the one slot (UTC ...Z)
            tz TEXT NOT NULL DEFAULT 'UTC',           -- IANA zone the cron is read in
            misfire TEXT NOT NULL DEFAULT 'run_once' CHECK (misfire IN ('run_once', 'skip')),
            misfire_grace_s INTEGER NOT NULL DEFAULT 60,  -- lateness still fired normally
            context TEXT NOT NULL DEFAULT 'group' CHECK (context IN ('group', 'isolated')),
            status TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'paused', 'completed')),
            next_run TEXT,                            -- next slot (UTC ...Z); NULL unless active
            last_run TEXT,                            -- latest slot fired
            created_at TEXT NOT NULL
        );
        -- The due query (`status='active' AND next_run <= now`) and the alarm's MIN(next_run).
        CREATE INDEX scheduled_tasks_due ON scheduled_tasks (next_run) WHERE status = 'active';
        -- Listing by chat/folder (dashboard, CLI filters).
        CREATE INDEX scheduled_tasks_folder ON scheduled_tasks (group_folder, id);

        CREATE TABLE task_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            task_id INTEGER NOT NULL REFERENCES scheduled_tasks (id) ON DELETE CASCADE,
            slot TEXT NOT NULL,                       -- the slot time (UTC ...Z); the dedupe key
            fired_at TEXT NOT NULL,                   -- when timed handled it
            status TEXT NOT NULL CHECK (status IN ('fired', 'missed', 'skipped')),
            message_seq INTEGER,                      -- messages.seq of the posted prompt
            fired_by TEXT NOT NULL DEFAULT '',        -- host:pid of the timed that handled it
            note TEXT NOT NULL DEFAULT '',            -- why (misfire, run-now, catch-up limit)
            UNIQUE (task_id, slot)                    -- also serves runs(task_id) newest first
        );
        """,
    )
