"""One `session_log` row per agent run: opened with everything needed to resume it, in flight
while open (its owner's liveness token says which gated runs it), taken over by compare-and-set
when that gated is gone, closed with its result. The log read by status pages is here too."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Final, Literal, TypedDict

from store import validate
from store.bus import WorkKey
from store.clock import now_iso
from store.connection import tx
from store.errors import InvalidInput
from store.liveness import me
from store.models import SessionRun
from store.usage import RunUsage

# What ended a run at a limit (session_log.limit_hit); NULL when no limit was hit.
RunLimit = Literal["memory", "pids", "cpu", "disk", "timeout"]
RUN_LIMITS: Final[frozenset[str]] = frozenset({"memory", "pids", "cpu", "disk", "timeout"})
MAX_ERROR_CHARS: Final = 4000

# The open run of a work key (parameter: work_key); served by session_log_open_work.
OPEN_RUN_SQL: Final = "SELECT * FROM session_log WHERE work_key = ? AND ended_at IS NULL"
# Every open run with a work key (gated's start-up look for runs of gone owners).
OPEN_RUNS_SQL: Final = """
SELECT * FROM session_log WHERE work_key IS NOT NULL AND ended_at IS NULL ORDER BY id
"""
# Parameters: work_key, group_folder, topic, chat_jid, session_id, started_at, batch_end,
# owner, owner_since, sandbox, system_messages (JSON).
OPEN_SQL: Final = """
INSERT INTO session_log (work_key, group_folder, topic, chat_jid, session_id, started_at,
                         batch_end, owner, owner_since, sandbox, system_messages)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING RETURNING id
"""


class CarriedMessage(TypedDict):
    """A system message handed to a run (session_log.system_messages holds a JSON list)."""

    origin: str
    event: str
    body: str
    created_at: str


@dataclass(frozen=True, slots=True)
class NewRun:
    """What a run is opened with."""

    key: WorkKey
    group_folder: str
    topic: str
    chat_jid: str | None
    batch_end: int  # seq of the batch's last input message
    system_messages: tuple[CarriedMessage, ...] = ()
    session_id: str | None = None  # the agent session the run resumes
    # What the agent runs under ('bwrap', 'none', 'unconfined:<reason>', 'refused'); None for
    # a row that owes a re-run of its batch and has no agent launched yet.
    sandbox: str | None = None


@dataclass(frozen=True, slots=True)
class OpenRun:
    """An open session_log row: a run in flight, or a batch owed a re-run (not launched)."""

    id: int
    key: WorkKey
    group_folder: str
    topic: str
    chat_jid: str | None
    batch_end: int
    system_messages: tuple[CarriedMessage, ...]
    owner: str | None  # store.liveness token of the gated running it; None: not recorded
    owner_since: str | None
    pid: int | None  # the agent's process group leader, once started
    pid_start: str | None
    sandbox: str | None

    @property
    def launched(self) -> bool:
        """An agent was launched for this row (else it only holds a batch to run again)."""
        return self.sandbox is not None

    def successor(self) -> NewRun:
        """The row that owes this run's batch once this one is closed unfinished."""
        return NewRun(
            self.key,
            self.group_folder,
            self.topic,
            self.chat_jid,
            self.batch_end,
            self.system_messages,
        )


def _open_run(row: sqlite3.Row) -> OpenRun:
    return OpenRun(
        id=row["id"],
        key=WorkKey.parse(row["work_key"]),
        group_folder=row["group_folder"],
        topic=row["topic"],
        chat_jid=row["chat_jid"],
        batch_end=int(row["batch_end"]),
        system_messages=tuple(json.loads(row["system_messages"])),
        owner=row["owner"],
        owner_since=row["owner_since"],
        pid=row["pid"],
        pid_start=row["pid_start"],
        sandbox=row["sandbox"],
    )


def open_run(conn: sqlite3.Connection, run: NewRun, *, owner: str | None = None) -> int | None:
    """Open a run's row, owned by `owner` (default: this process); returns its id, or None
    when the work key has an open run already (a work key has at most one)."""
    validate.folder(run.group_folder, "group_folder")
    validate.short_text(run.topic, "topic")
    if run.chat_jid is not None:
        validate.jid(run.chat_jid, "chat_jid")
    if run.session_id is not None:
        validate.short_text(run.session_id, "session_id")
    if run.sandbox is not None:
        validate.short_text(run.sandbox, "sandbox", allow_empty=False)
    now = now_iso()
    with tx(conn):
        row = conn.execute(
            OPEN_SQL,
            (
                str(run.key),
                run.group_folder,
                run.topic,
                run.chat_jid,
                run.session_id,
                now,
                run.batch_end,
                owner or me().token,
                now,
                run.sandbox,
                json.dumps(list(run.system_messages)),
            ),
        ).fetchone()
        return None if row is None else int(row[0])


def launch_owed_run(
    conn: sqlite3.Connection,
    run: OpenRun,
    *,
    sandbox: str,
    session_id: str | None,
    system_messages: tuple[CarriedMessage, ...],
    owner: str | None = None,
) -> bool:
    """Start the agent of a row that owes its batch a re-run (compare-and-set: still open, ours
    and not launched); False when it is not."""
    validate.short_text(sandbox, "sandbox", allow_empty=False)
    with tx(conn):
        cur = conn.execute(
            "UPDATE session_log SET started_at = ?, sandbox = ?, session_id = ?, "
            "system_messages = ? "
            "WHERE id = ? AND owner = ? AND sandbox IS NULL AND ended_at IS NULL",
            (
                now_iso(),
                sandbox,
                session_id,
                json.dumps(list(system_messages)),
                run.id,
                owner or me().token,
            ),
        )
        return cur.rowcount == 1


def note_pid(
    conn: sqlite3.Connection,
    run_id: int,
    pid: int,
    pid_start: str | None,
    *,
    owner: str | None = None,
) -> bool:
    """Record a run's agent process (so a gated taking the run over can kill it); False when
    the run is no longer open and ours."""
    with tx(conn):
        cur = conn.execute(
            "UPDATE session_log SET pid = ?, pid_start = ? "
            "WHERE id = ? AND owner = ? AND ended_at IS NULL",
            (pid, pid_start, run_id, owner or me().token),
        )
        return cur.rowcount == 1


def open_run_of(conn: sqlite3.Connection, key: WorkKey) -> OpenRun | None:
    """The open run of a work key (there is at most one), if any."""
    row = conn.execute(OPEN_RUN_SQL, (str(key),)).fetchone()
    return None if row is None else _open_run(row)


def open_runs(conn: sqlite3.Connection) -> list[OpenRun]:
    """Every open run of a work key, oldest first."""
    return [_open_run(r) for r in conn.execute(OPEN_RUNS_SQL)]


def take_over_run(
    conn: sqlite3.Connection, run: OpenRun, reason: str, *, owner: str | None = None
) -> OpenRun | None:
    """Make the open run of a gone owner ours, by compare-and-set on (id, owner, owner_since):
    a launched run is closed `killed` with `reason` and a successor row opened to re-run its
    batch; a row that only owes a re-run changes owner. The open row now ours, or None when the
    run changed meanwhile (another gated took it, or its owner ended it)."""
    mine = owner or me().token
    now = now_iso()
    with tx(conn):
        if run.launched:
            cur = conn.execute(
                "UPDATE session_log SET ended_at = ?, result = 'killed', error = ? "
                "WHERE id = ? AND owner IS ? AND owner_since IS ? AND ended_at IS NULL",
                (now, reason[:MAX_ERROR_CHARS], run.id, run.owner, run.owner_since),
            )
            if cur.rowcount != 1:
                return None
            successor = open_run(conn, run.successor(), owner=mine)
            assert successor is not None  # the key's one open row was just closed
            run_id = successor
        else:
            cur = conn.execute(
                "UPDATE session_log SET owner = ?, owner_since = ? "
                "WHERE id = ? AND owner IS ? AND owner_since IS ? AND ended_at IS NULL",
                (mine, now, run.id, run.owner, run.owner_since),
            )
            if cur.rowcount != 1:
                return None
            run_id = run.id
        row = conn.execute("SELECT * FROM session_log WHERE id = ?", (run_id,)).fetchone()
        return _open_run(row)


def end_run(
    conn: sqlite3.Connection,
    run_id: int,
    result: str,
    *,
    error: str | None = None,
    limit_hit: RunLimit | None = None,
    session_id: str | None = None,
    owner: str | None = None,
    usage: RunUsage | None = None,
) -> bool:
    """Close a run with its result (ok, error, timeout, killed, or the limit it hit) and the
    usage its agent reported, if it is still open and ours; False when it is not (another
    gated took it over)."""
    validate.short_text(result, "result", allow_empty=False)
    if limit_hit is not None and limit_hit not in RUN_LIMITS:
        raise InvalidInput("limit_hit", f"{limit_hit!r} is not a run limit")
    with tx(conn):
        cur = conn.execute(
            "UPDATE session_log SET ended_at = ?, result = ?, error = ?, limit_hit = ?, "
            "session_id = COALESCE(?, session_id), input_tokens = ?, output_tokens = ?, "
            "cost_usd = ? WHERE id = ? AND owner = ? AND ended_at IS NULL",
            (
                now_iso(),
                result,
                error[:MAX_ERROR_CHARS] if error else None,
                limit_hit,
                session_id,
                usage.input_tokens if usage else None,
                usage.output_tokens if usage else None,
                usage.cost_usd if usage else None,
                run_id,
                owner or me().token,
            ),
        )
        return cur.rowcount == 1


def close_runs_without_key(conn: sqlite3.Connection, reason: str) -> int:
    """Close as killed the open rows no work key names (left by a gated from before run
    records; nothing can resume them); returns how many."""
    with tx(conn):
        cur = conn.execute(
            "UPDATE session_log SET ended_at = ?, result = 'killed', error = ? "
            "WHERE ended_at IS NULL AND work_key IS NULL",
            (now_iso(), reason),
        )
        return cur.rowcount


def session_runs(
    conn: sqlite3.Connection,
    *,
    group_folder: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
    errors_only: bool = False,
    running_only: bool = False,
    folders: list[str] | None = None,
) -> list[SessionRun]:
    """session_log rows, newest first, filtered and paged by id."""
    sql = "SELECT * FROM session_log WHERE id < ?"
    params: list[object] = [before_id if before_id is not None else 2**62]
    if group_folder is not None:
        sql += " AND group_folder = ?"
        params.append(group_folder)
    if folders is not None:
        sql += f" AND group_folder IN ({','.join('?' * len(folders))})"
        params += folders
    if errors_only:
        sql += " AND result IS NOT NULL AND result != 'ok'"
    if running_only:
        sql += " AND ended_at IS NULL"
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return [
        SessionRun(
            id=r["id"],
            group_folder=r["group_folder"],
            topic=r["topic"],
            chat_jid=r["chat_jid"],
            session_id=r["session_id"],
            started_at=r["started_at"],
            ended_at=r["ended_at"],
            result=r["result"],
            error=r["error"],
            work_key=r["work_key"],
            sandbox=r["sandbox"],
            limit_hit=r["limit_hit"],
        )
        for r in conn.execute(sql, params)
    ]
