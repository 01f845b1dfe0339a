"""The agent pool: at most `max_agents` runs at once, one per group folder, each on a thread with
its own connection. The run's thread records its outcome (cursor, session, session_log row,
circuit breaker) on that connection, then hands a `Finished` to the gateway through `finished`,
a queue the gateway thread drains; the gateway's own state is touched by the gateway alone."""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import store
from store import NewRun, RunLimit, WorkKey

from gated import budgets
from gated.agent import (
    KILL_GRACE_S,
    LIMIT_RESULTS,
    AgentRun,
    RunOutcome,
    RunResult,
    RunSpec,
    StopReason,
)
from gated.credproxy import CredentialProxy
from gated.egress import EgressProxy
from gated.tools import ToolService
from gated.typing_notify import TypingNotifier

log = logging.getLogger(__name__)

ERRORED_AFTER = 3  # consecutive failed runs before a chat is marked errored
# Results that name the limit the run hit.
LIMIT_OF_RESULT: dict[RunResult, RunLimit] = {
    "timeout": "timeout",
    "memory": "memory",
    "pids": "pids",
    "cpu": "cpu",
    "disk": "disk",
}


@dataclass(frozen=True, slots=True)
class Finished:
    """What the gateway learns when a run ends."""

    key: WorkKey
    chat_jid: str
    advanced: bool  # the cursor moved past the batch
    failed: bool  # counts toward the circuit breaker
    failures: int  # consecutive failures of the chat after this run


class AgentPool:
    """Starts runs and records their outcomes; `lock` guards the set of running work keys."""

    def __init__(
        self,
        db: str,
        max_agents: int,
        proxy: CredentialProxy | None = None,
        egress: EgressProxy | None = None,
        tools: ToolService | None = None,
        wake: Callable[[], None] = store.wake_waiters,
        typing: TypingNotifier | None = None,
    ) -> None:
        self.db = db
        self.proxy = proxy
        self.egress = egress
        self.tools = tools
        self.typing = typing  # typing notices to 1.1 adapters while a run goes
        self.max_agents = max(1, max_agents)
        # A run's end, for the gateway thread; `wake` then ends the daemon's wait for a change,
        # so the gateway drains it at once.
        self.finished: queue.SimpleQueue[Finished] = queue.SimpleQueue()
        self.wake = wake
        self.lock = threading.RLock()
        self.runs: dict[WorkKey, AgentRun] = {}
        self._threads: dict[WorkKey, threading.Thread] = {}

    def running(self) -> int:
        with self.lock:
            return len(self.runs)

    def full(self) -> bool:
        with self.lock:
            return len(self.runs) >= self.max_agents

    def is_running(self, key: WorkKey) -> bool:
        with self.lock:
            return key in self.runs

    def run_for(self, key: WorkKey) -> AgentRun | None:
        with self.lock:
            return self.runs.get(key)

    def folder_busy(self, folder: str) -> bool:
        with self.lock:
            return any(r.spec.folder == folder for r in self.runs.values())

    def running_folders(self) -> list[str]:
        with self.lock:
            return sorted({r.spec.folder for r in self.runs.values()})

    def start(self, spec: RunSpec) -> None:
        """Start a run on its own thread (the caller checked capacity under `lock`)."""
        conn = store.connect(self.db)
        run = AgentRun(spec, conn, self.proxy, self.egress, self.tools)
        thread = threading.Thread(
            target=self._run, args=(run,), name=f"agent-{spec.folder}", daemon=True
        )
        with self.lock:
            self.runs[spec.key] = run
            self._threads[spec.key] = thread
        thread.start()

    def stop_folder(self, folder: str, reason: StopReason = "stop") -> bool:
        """Terminate the runs of a folder; False when none was running."""
        with self.lock:
            runs = [r for r in self.runs.values() if r.spec.folder == folder]
        for run in runs:
            run.terminate(reason)
        return bool(runs)

    def shutdown(self, grace_s: float) -> None:
        """Let running agents finish for `grace_s`, then TERM (→ KILL) the rest and wait."""
        deadline = time.monotonic() + grace_s
        for thread in self._snapshot():
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        with self.lock:
            left = list(self.runs.values())
        for run in left:
            run.terminate("shutdown")
        deadline = time.monotonic() + KILL_GRACE_S + 2.0
        for thread in self._snapshot():
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _snapshot(self) -> list[threading.Thread]:
        with self.lock:
            return list(self._threads.values())

    def take_finished(self) -> list[Finished]:
        """The runs that ended since the last call, in the order they ended (gateway thread)."""
        done: list[Finished] = []
        while True:
            try:
                done.append(self.finished.get_nowait())
            except queue.Empty:
                return done

    def _run(self, run: AgentRun) -> None:
        if self.typing is not None:
            self.typing.started(run.spec)
        try:
            outcome = run.execute()
        finally:
            if self.typing is not None:
                self.typing.ended(run.spec)
        try:
            try:
                finished = record_outcome(run.conn, run.spec, outcome)
            except Exception:
                log.exception("recording the run failed folder=%s", run.spec.folder)
                finished = Finished(run.spec.key, run.spec.chat_jid, False, True, 0)
            # The outcome is committed before the key stops running, and the key stops running
            # together with its Finished being queued: the gateway never plans a key whose
            # last run is half recorded, nor misses that it ended.
            with self.lock:
                self.runs.pop(run.spec.key, None)
                self._threads.pop(run.spec.key, None)
                self.finished.put(finished)
            self.wake()
        finally:
            run.conn.close()


def record_outcome(conn: sqlite3.Connection, spec: RunSpec, outcome: RunOutcome) -> Finished:
    """Persist a run's end in one transaction: its session_log row, the cursor (when the batch
    is done), session, failure count; system messages go back to the queue when nothing came
    out. A run another gated took over meanwhile records nothing: the batch is that gated's."""
    limit_hit = limit_of(outcome)
    if outcome.stop_reason == "shutdown":
        # Like a crash, minus the orphan: the row is closed and a successor owes the batch a
        # re-run, so the next gated re-runs exactly this batch and the replies already stored
        # are not stored again.
        with store.tx(conn):
            if store.end_run(
                conn, spec.run_id, outcome.result, error=outcome.error, usage=outcome.usage
            ):
                store.open_run(conn, successor(spec))
        return Finished(spec.key, spec.chat_jid, False, False, 0)
    stopped_by_user = outcome.stop_reason == "stop"
    advance = outcome.result == "ok" or outcome.outputs > 0 or stopped_by_user
    failed = outcome.result in ("error", "timeout", *LIMIT_RESULTS)
    failures = 0
    with store.tx(conn):
        ended = store.end_run(
            conn,
            spec.run_id,
            outcome.result,
            error=outcome.error,
            limit_hit=limit_hit,
            session_id=outcome.session_id,
            usage=outcome.usage,
        )
        if not ended:
            log.warning(
                "run taken over by another gated; its outcome is not recorded run=%d key=%s",
                spec.run_id,
                spec.key,
            )
            return Finished(spec.key, spec.chat_jid, False, False, 0)
        if advance:
            store.advance_cursor(conn, spec.key.cursor_key, outcome.batch_end or spec.last_seq)
        # A /new during the run deleted the session it started with: keep that reset.
        started_with = spec.payload.get("session_id")
        current = store.get_session(conn, spec.folder, spec.topic)
        if outcome.session_id and current == started_with:
            store.set_session(conn, spec.folder, spec.topic, outcome.session_id)
        if not advance:
            for sm in spec.system_messages:
                store.add_system_message(
                    conn, spec.folder, str(sm["origin"]), str(sm["event"]), str(sm["body"])
                )
        if outcome.result == "ok":
            if store.note_run_success(conn, spec.chat_jid):
                log.info("chat recovered chat=%s folder=%s", spec.chat_jid, spec.folder)
        elif failed:
            failures = store.note_run_failure(conn, spec.chat_jid, ERRORED_AFTER)
            if failures == ERRORED_AFTER:
                store.add_system_message(
                    conn,
                    spec.folder,
                    "gated",
                    "agent_errored",
                    json.dumps(
                        {
                            "chat_jid": spec.chat_jid,
                            "failures": failures,
                            "error": (outcome.error or "")[:500],
                        }
                    ),
                )
    if outcome.usage is not None and outcome.usage.cost_usd > 0:
        try:
            budgets.after_run(conn, spec.folder, store.utcnow())
        except Exception:  # the run is recorded; a notice must not undo that
            log.exception("budget check after a run failed folder=%s", spec.folder)
    if failures >= ERRORED_AFTER:
        log.error(
            "chat errored after %d failed runs chat=%s folder=%s error=%s",
            failures,
            spec.chat_jid,
            spec.folder,
            outcome.error,
        )
    return Finished(spec.key, spec.chat_jid, advance, failed, failures)


def limit_of(outcome: RunOutcome) -> RunLimit | None:
    """The limit a run hit (its session_log.limit_hit), if its result names one."""
    return LIMIT_OF_RESULT.get(outcome.result)


def successor(spec: RunSpec) -> NewRun:
    """The open row that owes a run's batch a re-run (no agent launched for it yet)."""
    return NewRun(
        spec.key,
        spec.folder,
        spec.topic,
        spec.chat_jid,
        spec.last_seq,
        spec.system_messages,
    )
