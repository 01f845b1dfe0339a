"""Every hot query uses an index: `EXPLAIN QUERY PLAN` on a fully migrated database must not show
a full `SCAN` of a table that grows with traffic (messages, outbox, tasks, runs, sessions ...)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from daemonkit.alerts import DEAD_SQL
from dashd.auth import SESSION_ALIVE_SQL
from gated import metrics as gated_metrics
from gated.tools.audit import CALL_COUNTS_SQL
from store import activity
from store.audit import ENTRIES_SQL as AUDIT_ENTRIES_SQL
from store.folder_chats import COUNT_SQL as FOLDER_CHATS_COUNT_SQL
from store.groups import FOLDERS_CTE, NON_VISITOR_GROUPS_SQL
from store.hierarchy import PARENTS_SQL
from store.messages import PENDING_TASKS_SQL
from store.outbox import CLAIM_OWNERS_SQL, CLAIM_SQL, ITEM_SQL, RELEASE_SQL
from store.rates import RECEIVED_SINCE_SQL, SENT_SINCE_SQL
from store.runs import OPEN_RUN_SQL, OPEN_RUNS_SQL
from store.share_links import VISITOR_COUNT_SQL
from switchboard.schemas import open_all
from timed import metrics as timed_metrics
from timed.firing import DUE_SQL

# Tables whose row count grows with traffic or time; a full scan of one is a bug.
BIG_TABLES = (
    "messages",
    "outbox",
    "chats",
    "registered_groups",  # one row per share-link visitor
    "scheduled_tasks",
    "task_runs",
    "session_log",
    "onboarding",
    "auth_sessions",
    "login_failures",
    "email_threads",
    "tool_calls",
    "audit_log",
)
NOW = "2026-11-23T10:00:00.000Z"
TALLY_PAGE = {"after": 0, "limit": 5000}

# (name, sql, params). Queries restated here (no *_SQL constant) name their source.
HOT_QUERIES: list[tuple[str, str, tuple[Any, ...] | dict[str, Any]]] = [
    # store/messages.py: new_messages (gated's and onbod's cursor-following read)
    ("store.new_messages", "SELECT * FROM messages WHERE seq > ? ORDER BY seq LIMIT ?", (0, 500)),
    # store/messages.py: messages_since (an agent batch; dashd's web chat /since)
    (
        "store.messages_since",
        "SELECT * FROM messages WHERE chat_jid = ? AND seq > ? ORDER BY seq LIMIT ?",
        ("web:a", 0, 200),
    ),
    # store/messages.py: messages_before (dashd's chat pages)
    (
        "store.messages_before",
        "SELECT * FROM messages WHERE chat_jid = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
        ("web:a", 2**62, 50),
    ),
    # store/messages.py: put_message's seq lookup and find_message (idempotent insert)
    (
        "store.find_message",
        "SELECT * FROM messages WHERE chat_jid = ? AND id = ?",
        ("web:a", "m1"),
    ),
    ("store.get_message", "SELECT * FROM messages WHERE seq = ?", (1,)),
    ("store.latest_seq", "SELECT COALESCE(MAX(seq), 0) FROM messages", ()),
    ("store.messages.PENDING_TASKS_SQL", PENDING_TASKS_SQL, (0, 10, "demo", "", 50)),
    ("store.outbox.CLAIM_SQL", CLAIM_SQL, (NOW, "gated:1:x", NOW, NOW, 20)),
    ("store.outbox.ITEM_SQL", ITEM_SQL, (1,)),
    # the delivery worker's look for claims of gone owners (every 2 s) and its release
    ("store.outbox.CLAIM_OWNERS_SQL", CLAIM_OWNERS_SQL, ()),
    ("store.outbox.RELEASE_SQL", RELEASE_SQL, (NOW, "vm:1:2:x")),
    # store/outbox.py: next_attempt_due (the delivery worker's sleep bound)
    (
        "store.outbox.next_due",
        "SELECT MIN(next_attempt_at) FROM outbox WHERE status IN ('pending', 'failed')",
        (),
    ),
    ("store.rates.RECEIVED_SINCE_SQL", RECEIVED_SINCE_SQL, ("web:a", 2000, "message", NOW)),
    ("store.rates.SENT_SINCE_SQL", SENT_SINCE_SQL, ("web:a", 2000, NOW)),
    # store/groups.py: get_chat; errored_chats (the alert watcher's, every few seconds)
    ("store.get_chat", "SELECT * FROM chats WHERE jid = ?", ("web:a",)),
    # store/hierarchy.py: the folder tree (every request of a restricted dashboard user)
    ("store.hierarchy.PARENTS_SQL", PARENTS_SQL, ()),
    # store/folder_chats.py: how many chats some folders have; both forms of its condition
    # in store/groups.py: list_chats(folders=) (a restricted user's /chats)
    (
        "store.folder_chats.COUNT_SQL",
        FOLDER_CHATS_COUNT_SQL.format(marks="?,?"),
        ("a", "b", 1001),
    ),
    (
        "store.list_chats.few",
        "SELECT * FROM chats WHERE COALESCE(last_message_at, '') < ? AND (chats.jid IN "
        "(SELECT jid FROM registered_groups WHERE folder IN (?)) OR chats.jid IN (?)) "
        "ORDER BY last_message_at DESC LIMIT ?",
        ("\uffff", "a", "web:a", 50),
    ),
    (
        "store.list_chats.many",
        "SELECT * FROM chats WHERE COALESCE(last_message_at, '') < ? AND (EXISTS (SELECT 1 "
        "FROM registered_groups g WHERE g.jid = chats.jid AND g.folder IN (?)) OR chats.jid "
        "IN (?)) ORDER BY last_message_at DESC LIMIT ?",
        ("\uffff", "a", "web:a", 50),
    ),
    # store/groups.py: group_folders and registered_groups(visitors=False) (/groups, /web,
    # `switchboard group list`)
    ("store.groups.FOLDERS_CTE", FOLDERS_CTE + "SELECT name FROM folders", ()),
    ("store.groups.NON_VISITOR_GROUPS_SQL", NON_VISITOR_GROUPS_SQL, ()),
    # store/share_links.py: visitors per folder (/groups, `switchboard group list`)
    ("store.share_links.VISITOR_COUNT_SQL", VISITOR_COUNT_SQL, ("a", "web:a/v/", "web:a/v0")),
    ("store.errored_chats", "SELECT * FROM chats WHERE errored = 1", ()),
    # daemonkit/alerts.py: the undelivered replies, every few seconds
    ("daemonkit.alerts.DEAD_SQL", DEAD_SQL, ("alert",)),
    # gated/adapters.py: a channel token lookup on every POST /v1/messages
    ("gated.channel_by_token", "SELECT * FROM channels WHERE token_hash = ?", ("x",)),
    # gated/email/threads.py: get_thread, latest_thread
    (
        "gated.email.get_thread",
        "SELECT * FROM email_threads WHERE thread_id = ?",
        ("t",),
    ),
    (
        "gated.email.latest_thread",
        "SELECT * FROM email_threads WHERE chat_jid = ? ORDER BY updated_at DESC, rowid DESC "
        "LIMIT 1",
        ("email:a",),
    ),
    # gated's look at a work key's run in flight (every schedule), its start-up take-over
    ("store.runs.OPEN_RUN_SQL", OPEN_RUN_SQL, ("chat:web:a",)),
    ("store.runs.OPEN_RUNS_SQL", OPEN_RUNS_SQL, ()),
    ("timed.firing.DUE_SQL", DUE_SQL, (NOW, 200)),
    # gated/tools/audit.py: a run's calls and the calls per run (run pages, `runs list`)
    (
        "gated.tools.audit.calls_of_run",
        "SELECT * FROM tool_calls WHERE run_id = ? ORDER BY id",
        (1,),
    ),
    ("gated.tools.audit.CALL_COUNTS_SQL", CALL_COUNTS_SQL.format(ids="?,?,?"), (1, 2, 3)),
    # onbod/records.py: get, world-name lookup, rate counts
    ("onbod.get", "SELECT * FROM onboarding WHERE jid = ?", ("tg:1",)),
    (
        "onbod.pending_world",
        "SELECT jid FROM onboarding WHERE world_name = ? AND status = 'pending'",
        ("w",),
    ),
    (
        "onbod.requests_since",
        "SELECT COUNT(*) FROM onboarding WHERE requested_at >= ?",
        (NOW,),
    ),
    ("onbod.greeted_since", "SELECT COUNT(*) FROM onboarding WHERE greeted_at >= ?", (NOW,)),
    # store/groups.py: onbod's per-message registered check, its folder uniqueness check
    ("store.is_registered", "SELECT 1 FROM registered_groups WHERE jid = ?", ("tg:1",)),
    (
        "store.folder_owner",
        "SELECT jid FROM registered_groups WHERE folder = ? ORDER BY jid LIMIT 1",
        ("w",),
    ),
    # dashd/auth.py: every page load checks its session family; login failure count
    ("dashd.auth.SESSION_ALIVE_SQL", SESSION_ALIVE_SQL, ("fam", NOW)),
    (
        "dashd.auth.refresh_lookup",
        "SELECT * FROM auth_sessions WHERE token_hash = ?",
        ("h",),
    ),
    (
        "dashd.auth.failures",
        "SELECT COUNT(*) FROM login_failures WHERE username = ? AND ip = ? AND at > ?",
        ("u", "127.0.0.1", NOW),
    ),
    # store/search.py, store/outbox.py: search within one chat (bounded by the chat+seq index)
    (
        "store.search.chat_search",
        "SELECT * FROM (SELECT * FROM messages WHERE chat_jid = ? AND seq < ? "
        "ORDER BY seq DESC LIMIT ?) WHERE content LIKE ? ESCAPE '\\' LIMIT ?",
        ("web:a", 2**62, 50_000, "%x%", 50),
    ),
    # store/search.py, store/outbox.py: global search over a seq window
    (
        "store.search.global_search",
        "SELECT * FROM messages WHERE seq >= ? AND seq < ? AND content LIKE ? ESCAPE '\\'",
        (0, 50_000, "%x%"),
    ),
    # store/search.py, store/outbox.py: backlog counts and the chats' backlog for a user's groups
    ("store.search.backlog", "SELECT COUNT(*) FROM outbox WHERE status = ?", ("pending",)),
    (
        "store.search.dead",
        "SELECT o.seq, m.chat_jid, m.content, o.attempts, o.last_error, o.next_attempt_at "
        "FROM outbox o CROSS JOIN messages m ON m.seq = o.seq WHERE o.status = 'dead'",
        (),
    ),
    # every /metrics scrape (docs/observability.md): the rows new since the last one
    ("gated.metrics.RECEIVED_SQL", gated_metrics.RECEIVED_SQL, TALLY_PAGE),
    ("gated.metrics.SETTLED_SQL", gated_metrics.SETTLED_SQL, TALLY_PAGE),
    ("gated.metrics.UNSETTLED_SQL", gated_metrics.UNSETTLED_SQL, TALLY_PAGE),
    ("gated.metrics.ENDED_RUNS_SQL", gated_metrics.ENDED_RUNS_SQL, TALLY_PAGE),
    ("store.activity.RUNNING_SQL", activity.RUNNING_SQL, TALLY_PAGE),
    # store/activity.py: the dashboard charts' tallies (dashd.chart_tallies)
    ("store.activity.HOURLY_MESSAGES_SQL", activity.HOURLY_MESSAGES_SQL, TALLY_PAGE),
    ("store.activity.ENDED_RUNS_SQL", activity.ENDED_RUNS_SQL, TALLY_PAGE),
    ("store.activity.FIRED_TASKS_SQL", activity.FIRED_TASKS_SQL, TALLY_PAGE),
    ("gated.metrics.TOOL_CALLS_SQL", gated_metrics.TOOL_CALLS_SQL, TALLY_PAGE),
    ("timed.metrics.TASK_RUNS_SQL", timed_metrics.TASK_RUNS_SQL, TALLY_PAGE),
    # store/audit.py: a page of the audit log (`switchboard audit`, dashd's /audit), each filter
    # alone, two together, none (the --since window and the cursor bound the id)
    *[
        (
            f"store.audit.ENTRIES_SQL.{column}",
            AUDIT_ENTRIES_SQL.format(filters=f" AND {column} = ?"),
            (0, 2**62, "x", 50),
        )
        for column in ("actor", "origin", "action", "target")
    ],
    (
        "store.audit.ENTRIES_SQL.actor_action",
        AUDIT_ENTRIES_SQL.format(filters=" AND actor = ? AND action = ?"),
        (0, 2**62, "alice", "group.add", 50),
    ),
    ("store.audit.ENTRIES_SQL", AUDIT_ENTRIES_SQL.format(filters=""), (0, 2**62, 50)),
    (
        "onbod.records.status_counts",
        "SELECT COUNT(*) FROM onboarding WHERE status = ?",
        ("pending",),
    ),
]


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path: Path = tmp_path_factory.mktemp("plans") / "messages.db"
    c = open_all(path)
    yield c
    c.close()


def full_scans(
    conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] | dict[str, Any]
) -> list[str]:
    """The plan lines that read a whole big table (a `SCAN t` not bounded by an index)."""
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    bad = []
    for line in plan:
        found = re.match(r"SCAN (\w+)(?: AS \w+)?(.*)", line)
        if found and found.group(1) in BIG_TABLES and "USING" not in found.group(2):
            bad.append(line)
    return bad


@pytest.mark.parametrize(("name", "sql", "params"), HOT_QUERIES, ids=[q[0] for q in HOT_QUERIES])
def test_hot_query_uses_an_index(
    conn: sqlite3.Connection, name: str, sql: str, params: tuple[Any, ...] | dict[str, Any]
) -> None:
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    assert not full_scans(conn, sql, params), f"{name} scans a whole table: {plan}"


def test_the_check_catches_a_full_scan(conn: sqlite3.Connection) -> None:
    """The detector itself: an unindexed predicate on messages is reported."""
    assert full_scans(conn, "SELECT * FROM messages WHERE content = ?", ("x",))


# The scrape's reads of new rows: each must walk the table's rowid from the last row counted,
# not an index holding the whole history (a status index reads every sent row ever); a sort
# (other than a GROUP BY of the new rows) would mean reading them all first.
TALLY_READS = {
    "gated.metrics.RECEIVED_SQL": gated_metrics.RECEIVED_SQL,
    "gated.metrics.SETTLED_SQL": gated_metrics.SETTLED_SQL,
    "gated.metrics.ENDED_RUNS_SQL": gated_metrics.ENDED_RUNS_SQL,
    "gated.metrics.TOOL_CALLS_SQL": gated_metrics.TOOL_CALLS_SQL,
    "timed.metrics.TASK_RUNS_SQL": timed_metrics.TASK_RUNS_SQL,
}


@pytest.mark.parametrize("name", sorted(TALLY_READS))
def test_scrape_reads_start_at_the_last_row_counted(conn: sqlite3.Connection, name: str) -> None:
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + TALLY_READS[name], TALLY_PAGE)]
    assert re.match(r"SEARCH \w+ USING INTEGER PRIMARY KEY \(rowid>\?\)", plan[0]), plan
    assert not any("TEMP B-TREE FOR ORDER BY" in line for line in plan), plan


@pytest.mark.parametrize("column", ["actor", "origin", "action", "target"])
def test_an_audit_page_reads_its_filters_index_in_page_order(
    conn: sqlite3.Connection, column: str
) -> None:
    """One filter's (column, id) index, newest first: no sort of the matching rows."""
    sql = AUDIT_ENTRIES_SQL.format(filters=f" AND {column} = ?")
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, (0, 2**62, "x", 50))]
    assert plan == [
        f"SEARCH audit_log USING INDEX audit_log_{column} ({column}=? AND id>? AND id<?)"
    ], plan
