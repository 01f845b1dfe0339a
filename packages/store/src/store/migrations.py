"""The core schema of messages.db, one small migration function per version (never edit one
that has shipped; append a new one)."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from store.connection import execute_script
from store.group_settings import agent_config_changes, seed_folder_settings
from store.migrator import Migration

log = logging.getLogger(__name__)

MIGRATIONS: list[Migration] = []
migration = MIGRATIONS.append


@migration
def m001_core(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- Applied schema versions of every service (core uses service 'store').
        CREATE TABLE migrations (
            service    TEXT NOT NULL,      -- 'store', 'gated', 'timed', 'onbod', 'dashd'
            version    INTEGER NOT NULL,   -- 1-based index in the owner's migration list
            name       TEXT NOT NULL,      -- migration function name
            applied_at TEXT NOT NULL,      -- ISO-8601 UTC
            PRIMARY KEY (service, version)
        );

        -- Every message in and out. seq is the cursor everywhere (commit order).
        CREATE TABLE messages (
            seq          INTEGER PRIMARY KEY AUTOINCREMENT,
            id           TEXT NOT NULL,     -- channel's message id (unique within the chat)
            chat_jid     TEXT NOT NULL,     -- '<channel>:<id>'
            sender       TEXT NOT NULL DEFAULT '',
            sender_name  TEXT NOT NULL DEFAULT '',
            content      TEXT NOT NULL,
            timestamp    TEXT NOT NULL,     -- when the channel says it was sent (UTC text)
            verb         TEXT NOT NULL DEFAULT 'message',  -- message, task, command, system
            source       TEXT NOT NULL DEFAULT '',  -- web, email, timed, agent, channel name
            group_folder TEXT,              -- group that produced/answers it, when known
            topic        TEXT NOT NULL DEFAULT '',  -- session topic ('' = default)
            is_from_me   INTEGER NOT NULL DEFAULT 0,  -- 1 for our outbound messages
            reply_to_id  TEXT,              -- id of the message this answers
            attachments  TEXT,              -- JSON list of {name, type, size}
            UNIQUE (chat_jid, id)           -- re-delivery is a no-op
        );
        -- messages_since(chat, cursor) and the dashboard's chat pages.
        CREATE INDEX messages_chat_seq ON messages (chat_jid, seq);

        -- Delivery state of outbound messages; one row per outbound message.
        CREATE TABLE outbox (
            seq             INTEGER PRIMARY KEY REFERENCES messages (seq) ON DELETE CASCADE,
            channel         TEXT NOT NULL,  -- jid prefix: web, email, cli, adapter name
            status          TEXT NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dead')),
            attempts        INTEGER NOT NULL DEFAULT 0,  -- claims so far
            next_attempt_at TEXT NOT NULL,  -- claimable from (UTC text)
            claimed_at      TEXT,           -- when the current 'sending' claim was taken
            claimed_by      TEXT,           -- worker that holds the claim
            last_error      TEXT,
            sent_at         TEXT,
            remote_id       TEXT            -- id the channel gave the sent message
        );
        -- claim_outbound(): due rows by status.
        CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

        -- Known chats, upserted by put_message.
        CREATE TABLE chats (
            jid                  TEXT PRIMARY KEY,
            name                 TEXT NOT NULL DEFAULT '',
            channel              TEXT NOT NULL,
            is_group             INTEGER NOT NULL DEFAULT 0,
            errored              INTEGER NOT NULL DEFAULT 0,  -- 1 after 3 failed agent runs
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            last_message_at      TEXT
        );
        -- active_web_jids(since) and the dashboard's chat list (latest first).
        CREATE INDEX chats_last_message ON chats (last_message_at);

        -- Chats wired to a group folder and its agent.
        CREATE TABLE registered_groups (
            jid              TEXT PRIMARY KEY,
            folder           TEXT NOT NULL,   -- group folder (safe slug)
            name             TEXT NOT NULL DEFAULT '',
            trigger_word     TEXT NOT NULL DEFAULT '',
            requires_trigger INTEGER NOT NULL DEFAULT 0,
            agent_config     TEXT NOT NULL DEFAULT '{}',  -- JSON: command, timeout_s, env
            parent           TEXT,            -- parent folder, if any
            is_operator      INTEGER NOT NULL DEFAULT 0,  -- operator chats get /approve etc.
            created_at       TEXT NOT NULL
        );
        -- groups of a folder (dashboard, onboarding uniqueness).
        CREATE INDEX registered_groups_folder ON registered_groups (folder);

        -- Routing rules of a chat; first match by seq wins.
        CREATE TABLE routes (
            id     INTEGER PRIMARY KEY AUTOINCREMENT,
            jid    TEXT NOT NULL,
            seq    INTEGER NOT NULL,
            type   TEXT NOT NULL
                   CHECK (type IN ('command', 'verb', 'pattern', 'keyword', 'sender', 'default')),
            match  TEXT NOT NULL DEFAULT '',
            target TEXT NOT NULL,             -- group folder
            UNIQUE (jid, seq)                 -- also serves routes_for(jid) in order
        );

        -- Current agent session per (folder, topic).
        CREATE TABLE sessions (
            group_folder TEXT NOT NULL,
            topic        TEXT NOT NULL DEFAULT '',
            session_id   TEXT NOT NULL,
            updated_at   TEXT NOT NULL,
            PRIMARY KEY (group_folder, topic)
        );

        -- One row per agent run.
        CREATE TABLE session_log (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            group_folder TEXT NOT NULL,
            topic        TEXT NOT NULL DEFAULT '',
            chat_jid     TEXT,
            session_id   TEXT,
            started_at   TEXT NOT NULL,
            ended_at     TEXT,
            result       TEXT,   -- ok, error, timeout, killed, NULL while running
            error        TEXT
        );
        -- the dashboard's per-group log and "running now".
        CREATE INDEX session_log_folder ON session_log (group_folder, id);
        CREATE INDEX session_log_running ON session_log (ended_at) WHERE ended_at IS NULL;

        -- Events for a group's agent, flushed into its next prompt.
        CREATE TABLE system_messages (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            group_folder TEXT NOT NULL,
            origin       TEXT NOT NULL,   -- daemon that wrote it
            event        TEXT NOT NULL,   -- short machine name: delivery_dead, agent_errored...
            body         TEXT NOT NULL,
            created_at   TEXT NOT NULL
        );
        CREATE INDEX system_messages_folder ON system_messages (group_folder, id);

        -- Small persisted state: cursors, IMAP UIDs, ...
        CREATE TABLE router_state (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );

        -- One row per daemon: liveness for status, doctor and the dashboard.
        CREATE TABLE daemons (
            name         TEXT PRIMARY KEY,
            pid          INTEGER,
            host         TEXT NOT NULL DEFAULT '',
            version      TEXT NOT NULL DEFAULT '',
            started_at   TEXT,
            heartbeat_at TEXT,
            stopped_at   TEXT,
            info         TEXT NOT NULL DEFAULT '{}'  -- JSON, daemon specific
        );
        """,
    )


@migration
def m002_daemon_identity(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- Who a daemon's process is, beyond its pid (store.liveness): a lease names the same
        -- identity, and owner_gone() looks a lease's instance up here.
        ALTER TABLE daemons ADD COLUMN pid_start TEXT;  -- /proc/<pid>/stat field 22 of pid
        ALTER TABLE daemons ADD COLUMN instance TEXT;   -- random id of that process
        """,
    )


@migration
def m003_group_settings(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- A group's settings, one row per folder (several chats may share a folder): agent
        -- command, timeout, sandbox, network, mounts, limits, env, secrets. Written only by
        -- store.update_folder_settings, which validates every key; read by folder_settings.
        CREATE TABLE group_settings (
            folder     TEXT PRIMARY KEY,  -- group folder (safe slug)
            settings   TEXT NOT NULL,     -- JSON object of the keys set; absent keys: defaults
            updated_at TEXT NOT NULL      -- last change (UTC text)
        );
        """,
    )
    copy_agent_configs(conn)


def copy_agent_configs(conn: sqlite3.Connection) -> None:
    """Each folder gets the agent_config of its first-registered chat (created_at, then jid);
    another chat of the folder with a different agent_config is logged as a conflict. Values
    the settings refuse are left out, each logged."""
    winners: dict[str, tuple[str, dict[str, Any]]] = {}
    rows = conn.execute(
        "SELECT jid, folder, agent_config FROM registered_groups ORDER BY folder, created_at, jid"
    ).fetchall()
    for jid, folder, text in rows:
        try:
            config = json.loads(text or "{}")
        except ValueError:
            config = None
        if not isinstance(config, dict):
            log.warning("agent_config is not a JSON object, left out jid=%s folder=%s", jid, folder)
            config = {}
        if folder not in winners:
            winners[folder] = (jid, config)
        elif config != winners[folder][1]:
            log.warning(
                "agent_config conflict folder=%s kept=%s (first registered) dropped=%s",
                folder,
                winners[folder][0],
                jid,
            )
    for folder, (jid, config) in winners.items():
        changes, ignored = agent_config_changes(config)
        for key in ignored:
            log.warning("agent_config key has no setting, left out folder=%s key=%s", folder, key)
        for problem in seed_folder_settings(conn, folder, changes, strict=False):
            log.warning(
                "agent_config value refused, left out folder=%s jid=%s %s", folder, jid, problem
            )
