"""gated's Prometheus metrics: messages in and out, agent runs, delivery, the outbox, tool calls
and egress, read from their database rows at scrape time (exact across restarts), and the queue
depth from the gateway itself. Served on the channel API's `/metrics` (docs/observability.md)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Final, get_args

from daemonkit.tally import OTHER, DbCollector, FinalRows, GroupedRows, bounded
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from store import bus
from store.activity import RUNNING_SQL
from store.outbox import backlog_counts
from store.runs import RUN_LIMITS
from store.sqlparts import SECONDS_SQL

from gated.egress.counts import totals_by_verdict
from gated.runspec import RunResult
from gated.tools.catalog import TOOLS

# The `channel` label: a jid prefix of this set, else "other" (a label never takes a value a
# client chose: an adapter may post to any number of prefixes and chats).
KNOWN_CHANNELS: Final = ("web", "cli", "email", "telegram", "slack", "discord", "matrix")
RESULTS: Final = frozenset(get_args(RunResult))
CALL_RESULTS: Final = ("ok", "error")  # tool_calls.status
# Verbs of an inbound message a person (or a mailer) sent through a channel; tasks, edits and
# deletions are not messages received.
RECEIVED_VERBS: Final = (bus.MESSAGE, bus.IGNORED)
RUN_BUCKETS: Final = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
DELIVERY_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)

# Parameters: after (the last seq counted). The inbound messages past a seq, by jid prefix.
RECEIVED_SQL: Final = f"""
SELECT substr(chat_jid, 1, instr(chat_jid, ':') - 1) AS prefix, COUNT(*) AS n, MAX(seq) AS top
FROM messages
WHERE seq > :after AND is_from_me = 0 AND verb IN ({", ".join(f"'{v}'" for v in RECEIVED_VERBS)})
GROUP BY prefix
"""
# Parameters: after, limit. Settled outbox rows past a seq, with the seconds from storing their
# message to delivery. `+o.status` keeps the planner off the status index, which would read
# every sent row ever. (Durations are computed here: the first scrape reads the whole history.)
SETTLED_SQL: Final = f"""
SELECT o.seq, o.channel, o.status,
       {SECONDS_SQL.format(start="m.timestamp", end="o.sent_at")} AS took
FROM outbox o JOIN messages m ON m.seq = o.seq
WHERE o.seq > :after AND +o.status IN ('sent', 'dead')
ORDER BY o.seq LIMIT :limit
"""
# Parameters: after. The lowest outbox row past a seq still waiting to be settled.
UNSETTLED_SQL: Final = """
SELECT MIN(seq) FROM outbox WHERE seq > :after AND status IN ('pending', 'sending', 'failed')
"""
# Parameters: after, limit. Ended agent runs past an id.
ENDED_RUNS_SQL: Final = f"""
SELECT id, group_folder, result, limit_hit, {SECONDS_SQL.format(start="started_at", end="ended_at")}
       AS took
FROM session_log
WHERE id > :after AND ended_at IS NOT NULL ORDER BY id LIMIT :limit
"""
# Parameters: after. Tool calls past an id (a row is written once, when it is answered), by
# tool and status.
TOOL_CALLS_SQL: Final = """
SELECT tool, status, COUNT(*) AS n, MAX(id) AS top FROM tool_calls WHERE id > :after
GROUP BY tool, status
"""


class GatedMetrics(DbCollector):
    """Everything gated exposes; `queue_depth` reads the gateway's own queue."""

    def __init__(self, db: str, queue_depth: Callable[[], int]) -> None:
        super().__init__(db)
        self.queue_depth = queue_depth
        self.received = self.counter(
            "switchboard_messages_received",
            "Inbound messages stored from a channel (by jid prefix)",
            ["channel"],
        )
        self.sent = self.counter(
            "switchboard_messages_sent",
            "Outbound messages delivered (outbox rows marked sent, by jid prefix)",
            ["channel"],
        )
        self.delivery = self.histogram(
            "switchboard_delivery_seconds",
            "Seconds from storing an outbound message to its delivery",
            DELIVERY_BUCKETS,
        )
        self.runs = self.counter(
            "switchboard_agent_runs",
            "Agent runs ended, by group folder and result",
            ["folder", "result"],
        )
        self.run_seconds = self.histogram(
            "switchboard_agent_run_seconds", "Duration of ended agent runs", RUN_BUCKETS
        )
        self.limit_kills = self.counter(
            "switchboard_sandbox_limit_kills",
            "Agent runs stopped because they hit a limit, by limit",
            ["limit"],
        )
        self.tool_calls = self.counter(
            "switchboard_tool_calls",
            "Tool calls answered through agents' tool sockets, by tool and result",
            ["tool", "result"],
        )
        for name in (*KNOWN_CHANNELS, OTHER):
            self.received.declare(name)
            self.sent.declare(name)
        for limit in sorted(RUN_LIMITS):
            self.limit_kills.declare(limit)
        for tool in (*TOOLS, OTHER):
            for result in CALL_RESULTS:
                self.tool_calls.declare(tool, result)
        self.tally(GroupedRows(RECEIVED_SQL), self._received)
        self.tally(FinalRows(SETTLED_SQL, UNSETTLED_SQL), self._settled)
        self.tally(FinalRows(ENDED_RUNS_SQL, RUNNING_SQL), self._ended)
        self.tally(GroupedRows(TOOL_CALLS_SQL), self._tool_call)

    def _received(self, row: sqlite3.Row) -> None:
        self.received.inc(bounded(row["prefix"], KNOWN_CHANNELS), n=row["n"])

    def _settled(self, row: sqlite3.Row) -> None:
        if row["status"] != "sent":
            return
        self.sent.inc(bounded(row["channel"], KNOWN_CHANNELS))
        if row["took"] is not None:
            self.delivery.observe(max(0.0, row["took"]))

    def _ended(self, row: sqlite3.Row) -> None:
        self.runs.inc(row["group_folder"], bounded(row["result"], RESULTS))
        if row["took"] is not None:
            self.run_seconds.observe(max(0.0, row["took"]))
        if row["limit_hit"] is not None:
            self.limit_kills.inc(bounded(row["limit_hit"], RUN_LIMITS))

    def _tool_call(self, row: sqlite3.Row) -> None:
        self.tool_calls.inc(
            bounded(row["tool"], TOOLS), bounded(row["status"], CALL_RESULTS), n=row["n"]
        )

    def gauges(self, conn: sqlite3.Connection) -> Iterable[Metric]:
        depth = GaugeMetricFamily(
            "switchboard_queue_depth", "Chats and tasks with new input waiting for an agent"
        )
        depth.add_metric([], self.queue_depth())
        outbox = GaugeMetricFamily(
            "switchboard_outbox",
            "Outbox rows not delivered, by status (sent rows are messages_sent_total)",
            labels=["status"],
        )
        for status, n in backlog_counts(conn).items():
            outbox.add_metric([status], n)
        egress = CounterMetricFamily(
            "switchboard_egress",
            "Agents' requests through the egress proxy, by decision (written every few seconds)",
            labels=["decision"],
        )
        totals = totals_by_verdict(conn)
        for decision in ("allowed", "denied"):
            egress.add_metric([decision], totals.get(decision, 0))
        return [depth, outbox, egress]
