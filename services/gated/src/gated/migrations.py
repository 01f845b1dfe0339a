"""Schema owned by gated (`channels`, `email_threads`, `secrets`, `egress_counts`,
`tool_calls`, `thread_topics`), applied once at the start of each process that uses it:
`store.open(path, {"gated": MIGRATIONS, ...})`."""

from __future__ import annotations

import sqlite3

from store import execute_script
from store.migrator import Migration

MIGRATIONS: list[Migration] = []
migration = MIGRATIONS.append


@migration
def m001_channels(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- Channel adapters registered through POST /v1/channels/register.
        CREATE TABLE channels (
            name              TEXT PRIMARY KEY,  -- channel name = jid prefix it owns
            token_hash        TEXT NOT NULL,     -- sha256 hex of the bearer token
            url               TEXT NOT NULL,     -- adapter base URL (POST {url}/send)
            jid_prefixes      TEXT NOT NULL DEFAULT '[]',  -- JSON list of extra prefixes
            max_message_chars INTEGER NOT NULL DEFAULT 4000,
            registered_at     TEXT NOT NULL,
            health            TEXT NOT NULL DEFAULT 'unknown',  -- ok, down, unknown
            health_checked_at TEXT,
            health_error      TEXT
        );
        -- bearer-token lookup on every POST /v1/messages.
        CREATE UNIQUE INDEX channels_token ON channels (token_hash);
        """,
    )


@migration
def m002_email_threads(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- Email reply threading: one row per thread (root Message-ID).
        CREATE TABLE email_threads (
            thread_id       TEXT PRIMARY KEY,   -- root Message-ID of the thread
            chat_jid        TEXT NOT NULL,      -- 'email:<address>'
            subject         TEXT NOT NULL DEFAULT '',  -- original subject without 'Re:'
            last_message_id TEXT NOT NULL,      -- latest Message-ID seen in the thread
            "references"    TEXT NOT NULL DEFAULT '',  -- space-separated Message-IDs
            created_at      TEXT NOT NULL,
            updated_at      TEXT NOT NULL
        );
        -- threads of a chat (dashboard, reply lookup).
        CREATE INDEX email_threads_chat ON email_threads (chat_jid);
        """,
    )


@migration
def m003_secrets(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- Credentials the credential proxy adds to agents' requests (`switchboard secret set`).
        -- The value is only ever stored encrypted; its key lives in a file beside the
        -- database (gated.secret_store.key_file_for), never in this file.
        CREATE TABLE secrets (
            name       TEXT PRIMARY KEY,  -- lower-case slug; env var and proxy path derive from it
            upstream   TEXT,              -- https:// base URL the proxy forwards to; NULL for 'env'
            header     TEXT,              -- header the proxy sets, e.g. 'x-api-key'; NULL for 'env'
            format     TEXT NOT NULL DEFAULT '{}',      -- header value, '{}' replaced by the value
            expose     TEXT NOT NULL DEFAULT 'proxy',   -- 'proxy' or 'env' (raw value, warned)
            key_id     TEXT NOT NULL,     -- sha256 prefix of the key that encrypted `sealed`
            sealed     BLOB NOT NULL,     -- AES-256-GCM: 12-byte nonce || ciphertext || tag;
                                          -- the associated data is the name
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """,
    )


@migration
def m004_egress_counts(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- What agents of network=proxy groups tried to reach through gated's egress proxy:
        -- one row per (folder, host, verdict), counted (gated.egress.counts).
        CREATE TABLE egress_counts (
            folder  TEXT NOT NULL,     -- the group folder whose agent asked
            host    TEXT NOT NULL,     -- the host asked for, normalised; '(invalid)' for a
                                       -- request naming none, '(other)' past a run's cap
            verdict TEXT NOT NULL,     -- 'allowed' or 'denied'
            n       INTEGER NOT NULL,  -- attempts counted
            last_at TEXT NOT NULL,     -- when the latest of them was made
            PRIMARY KEY (folder, host, verdict)
        );
        """,
    )


@migration
def m005_tool_calls(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- Every call an agent made through its tool socket (gated.tools), refused ones too.
        CREATE TABLE tool_calls (
            id          INTEGER PRIMARY KEY,
            run_id      INTEGER NOT NULL,  -- session_log id of the calling run
            call_id     TEXT NOT NULL,     -- the caller's id: a retried call gets this answer
            tool        TEXT NOT NULL,
            args        TEXT NOT NULL,     -- the arguments as JSON, cut to 2,000 characters
            status      TEXT NOT NULL CHECK (status IN ('ok', 'error')),
            error_code  TEXT,              -- gated.tools.protocol.ErrorCode when status='error'
            error       TEXT,              -- its message
            result      TEXT,              -- the JSON result when status='ok'
            effect_key  TEXT,              -- '<work key>:<batch end>:<tool>:<n>' of a call that
                                           -- changed something: one per effect, ever
            replay_of   INTEGER,           -- the earlier attempt's call this one was answered by
            started_at  TEXT NOT NULL,
            duration_ms REAL NOT NULL
        );
        -- find_call(): a retried call id of a run is answered from its first answer.
        CREATE UNIQUE INDEX tool_calls_call ON tool_calls (run_id, call_id);
        -- by_effect(): a re-run of a batch finds what its earlier attempt already did.
        CREATE UNIQUE INDEX tool_calls_effect ON tool_calls (effect_key)
            WHERE effect_key IS NOT NULL;
        """,
    )


@migration
def m006_thread_topics(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- A platform thread (protocol 1.1 `thread_id`) is a session topic of its chat; the
        -- reply to that topic goes back into the same thread (gated.threads).
        CREATE TABLE thread_topics (
            chat_jid   TEXT NOT NULL,
            topic      TEXT NOT NULL,  -- 'thread:<id>' or 'thread:<16 hex of sha256(id)>'
            thread_id  TEXT NOT NULL,  -- the platform's id, as the adapter sent it
            created_at TEXT NOT NULL,
            PRIMARY KEY (chat_jid, topic)
        );
        """,
    )


@migration
def m007_channel_capabilities(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        -- Adapter protocol 1.1 (docs/channels.md): what the adapter registered with.
        ALTER TABLE channels ADD COLUMN protocol TEXT NOT NULL DEFAULT '1.0';  -- or '1.1'
        -- the adapter's secret, sent as `Authorization: Bearer` on every call to it (/send,
        -- /typing); NULL for 1.0. Kept as given: gated must be able to send it.
        ALTER TABLE channels ADD COLUMN send_secret TEXT;
        -- JSON of gated.channel_models.Capabilities ('{}' for 1.0: none)
        ALTER TABLE channels ADD COLUMN capabilities TEXT NOT NULL DEFAULT '{}';
        """,
    )
