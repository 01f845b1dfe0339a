"""The core schema of messages.db, one small migration function per version (never edit one
that has shipped; append a new one)."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from store import bus
from store.clock import now_iso
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


@migration
def m004_run_records(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- A session_log row is the whole record of an agent run: a run is in flight while its
        -- row is open, and the row holds what resuming or taking it over needs (store.runs).
        -- All NULL on rows from before this migration, except those it moves in (below).
        ALTER TABLE session_log ADD COLUMN work_key TEXT;  -- 'chat:<jid>', 'task:<f>:<topic>'
        ALTER TABLE session_log ADD COLUMN batch_end INTEGER;  -- seq of the batch's last input
        ALTER TABLE session_log ADD COLUMN pid INTEGER;  -- the agent's process group leader
        ALTER TABLE session_log ADD COLUMN pid_start TEXT;  -- /proc/<pid>/stat field 22 of pid
        ALTER TABLE session_log ADD COLUMN owner TEXT;  -- liveness token of the gated running it
        ALTER TABLE session_log ADD COLUMN owner_since TEXT;  -- when it took the run (UTC text)
        -- What the agent ran under: 'bwrap', 'none', 'unconfined:<reason>', 'refused' (not
        -- started), 'unrecorded' (in flight across this migration); NULL on an open row that
        -- owes its batch a re-run and has no agent yet.
        ALTER TABLE session_log ADD COLUMN sandbox TEXT;
        ALTER TABLE session_log ADD COLUMN limit_hit TEXT;  -- memory, pids, cpu, disk, timeout
        -- JSON list of the system messages handed to the run ({origin, event, body, created_at}).
        ALTER TABLE session_log ADD COLUMN system_messages TEXT NOT NULL DEFAULT '[]';
        -- store.runs.OPEN_RUN_SQL (the open run of a work key, on every schedule of a key) and
        -- OPEN_RUNS_SQL; unique: a work key has at most one run in flight.
        CREATE UNIQUE INDEX session_log_open_work ON session_log (work_key)
            WHERE ended_at IS NULL;
        """,
    )
    move_inflight_records(conn)


def move_inflight_records(conn: sqlite3.Connection) -> None:
    """Each in-flight record in router_state becomes the open session_log row of its work key,
    so an upgrade in the middle of a run loses nothing: its own row when that is still open,
    else (the run was closed by a shutdown or a take-over, its batch owed a re-run) a new open
    row without an agent. The records are deleted; an unreadable one is logged and dropped."""
    prefixes = {
        bus.LEGACY_AGENT_INFLIGHT_PREFIX: bus.CHAT_WORK,
        bus.LEGACY_TASK_INFLIGHT_PREFIX: bus.TASK_WORK,
    }
    for prefix, kind in prefixes.items():
        rows = conn.execute(
            "SELECT key, value FROM router_state WHERE substr(key, 1, ?) = ? ORDER BY key",
            (len(prefix), prefix),
        ).fetchall()
        for key, value in rows:
            conn.execute("DELETE FROM router_state WHERE key = ?", (key,))
            try:
                work = bus.WorkKey.parse(f"{kind}:{key.removeprefix(prefix)}")
                record = json.loads(value)
                batch_end = int(record["last_seq"])
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("in-flight record unreadable, dropped key=%s: %s", key, exc)
                continue
            move_inflight_record(conn, work, record, batch_end)


def move_inflight_record(
    conn: sqlite3.Connection, work: bus.WorkKey, record: dict[str, Any], batch_end: int
) -> None:
    owner = record.get("owner") if isinstance(record.get("owner"), str) else None
    since = record.get("since") if owner is not None else None
    carried = json.dumps(record.get("system_messages") or [])
    pid = record.get("pid") if isinstance(record.get("pid"), int) else None
    run_id = record.get("run_id")
    row = conn.execute(
        "SELECT group_folder, topic, chat_jid, ended_at FROM session_log WHERE id = ?",
        (run_id if isinstance(run_id, int) else -1,),
    ).fetchone()
    if row is not None and row["ended_at"] is None:
        conn.execute(
            "UPDATE session_log SET work_key = ?, batch_end = ?, pid = ?, pid_start = ?, "
            "owner = ?, owner_since = ?, sandbox = 'unrecorded', system_messages = ? "
            "WHERE id = ?",
            (str(work), batch_end, pid, record.get("pid_start"), owner, since, carried, run_id),
        )
        return
    if row is not None:
        folder, topic, jid = row["group_folder"], row["topic"], row["chat_jid"]
    elif work.kind == bus.TASK_WORK:
        folder, topic, jid = work.folder, work.topic, None
    else:
        group = conn.execute(
            "SELECT folder FROM registered_groups WHERE jid = ?", (work.jid,)
        ).fetchone()
        if group is None:
            log.warning("in-flight record of an unregistered chat dropped jid=%s", work.jid)
            return
        folder, topic, jid = group[0], "", work.jid
    conn.execute(
        "INSERT INTO session_log (work_key, group_folder, topic, chat_jid, started_at, "
        "batch_end, owner, owner_since, system_messages) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (str(work), folder, topic, jid, now_iso(), batch_end, owner, since, carried),
    )


@migration
def m005_message_mentions_and_targets(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- Adapter protocol 1.1 (docs/channels.md). 1 when the platform says the message
        -- @-mentions the bot: it triggers a group that requires a trigger (gated.planning).
        ALTER TABLE messages ADD COLUMN mentions_bot INTEGER NOT NULL DEFAULT 0;
        -- For verb 'edit' / 'delete': the id (in the same chat) of the message edited or
        -- deleted; NULL otherwise.
        ALTER TABLE messages ADD COLUMN target_id TEXT;
        """,
    )


@migration
def m006_share_links(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- A folder's public share link (store.share_links): anyone holding the token chats
        -- with the folder's agent at /s/<token>. Only the token's SHA-256 is kept; a revoked
        -- link is a deleted row, so an unknown and a revoked token are the same lookup.
        CREATE TABLE share_links (
            folder          TEXT PRIMARY KEY,  -- group folder (safe slug): one link per folder
            token_hash      TEXT NOT NULL UNIQUE,  -- hex SHA-256 of the token; the autoindex
                                                   -- serves share_links.lookup()
            created_at      TEXT NOT NULL,     -- when this token was made (UTC text)
            frame_ancestors TEXT NOT NULL DEFAULT ''  -- origins allowed to frame the page,
                                                      -- space-separated; '' = none
        );
        """,
    )


@migration
def m007_usage_and_alerts(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- What a run cost (store.usage), from the `usage` of the agent's result line(s);
        -- NULL when the agent reported none (the echo agent, an old agent).
        ALTER TABLE session_log ADD COLUMN input_tokens INTEGER;
        ALTER TABLE session_log ADD COLUMN output_tokens INTEGER;
        ALTER TABLE session_log ADD COLUMN cost_usd REAL;
        -- A folder's spend in a period (its budgets): the runs that reported a cost, by end.
        CREATE INDEX session_log_spend ON session_log (group_folder, ended_at)
            WHERE cost_usd IS NOT NULL;
        -- The errored chats, read every few seconds by the alert watcher (daemonkit.alerts):
        -- a handful among many chats.
        CREATE INDEX chats_errored ON chats (jid) WHERE errored = 1;
        """,
    )


@migration
def m008_registered_groups_scale_indexes(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- A folder with a share link has one registered row per visitor (tens of thousands):
        -- the folder-tree and per-folder queries must not read every row.
        -- (folder, jid) replaces registered_groups_folder (its prefix): the chats of some
        -- folders (store.folder_chats), share_links.visitor_counts and jid lists by folder,
        -- from the index alone.
        CREATE INDEX registered_groups_folder_jid ON registered_groups (folder, jid);
        DROP INDEX registered_groups_folder;
        -- hierarchy.parent_map (every restricted dashboard request), folder_parent and
        -- parent_for_new_row (each registration): only rows with a parent, in the index.
        CREATE INDEX registered_groups_parent ON registered_groups (folder, parent)
            WHERE parent IS NOT NULL;
        """,
    )


@migration
def m009_message_trace_context(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- The W3C traceparent of the span that stored the message (daemonkit.tracing), so the
        -- daemon that handles it next continues the same trace; NULL with tracing off.
        ALTER TABLE messages ADD COLUMN traceparent TEXT;
        """,
    )


@migration
def m010_audit_log(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- Every administrative change (store.audit): one row per change, written in the
        -- transaction that makes it, so the two commit together or not at all. Written by
        -- the CLI, dashd, and gated (operator chat commands, operator groups' tools); read by
        -- `switchboard audit` and dashd's /audit. Rows are never updated.
        CREATE TABLE audit_log (
            id     INTEGER PRIMARY KEY AUTOINCREMENT,  -- commit order: the page cursor
            at     TEXT NOT NULL,  -- when (UTC text), in id order
            actor  TEXT NOT NULL,  -- who: OS user (cli), dashboard user, sender (chat),
                                   -- 'agent:<folder>' (tool)
            origin TEXT NOT NULL CHECK (origin IN ('cli', 'dashboard', 'chat', 'tool')),
            remote TEXT NOT NULL DEFAULT '',  -- from where: 'host=… tty=… [ssh=…]' (cli),
                                              -- client IP (dashboard), chat jid (chat),
                                              -- '<chat jid> run <id>' (tool)
            action TEXT NOT NULL,  -- dotted name: group.config.set, secret.set, …
            target TEXT NOT NULL,  -- what: folder, chat jid, secret name, user, task:<id>
            before TEXT,           -- JSON of the object before; NULL when it did not exist
            after  TEXT            -- JSON after; NULL when removed. Secrets never: redacted
        );
        -- store.audit.ENTRIES_SQL: a page newest first, by one of the filters (the id keeps
        -- each index range in page order, and bounds it with the --since window).
        CREATE INDEX audit_log_actor ON audit_log (actor, id);
        CREATE INDEX audit_log_action ON audit_log (action, id);
        CREATE INDEX audit_log_target ON audit_log (target, id);
        CREATE INDEX audit_log_origin ON audit_log (origin, id);
        """,
    )
