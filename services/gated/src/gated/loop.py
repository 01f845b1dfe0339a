"""The gateway step: follow new messages past `bus.GATEWAY_CURSOR`, answer commands, and turn each
registered chat's (or task's) pending messages into agent runs with persisted cursors."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import store
from daemonkit import tracing
from store import Group, Message, NewRun, WorkKey, bus
from store.group_settings import decode, effective_stored
from store.hierarchy import inherited_persona
from store.models import FolderSettings
from store.paths import group_path, groups_dir

from gated import budgets, takeover
from gated.agent import RunSpec
from gated.commands import handle_command, parse_command
from gated.config import Config
from gated.credproxy import CredentialProxy
from gated.egress import EgressCounter, EgressProxy
from gated.errors import RunTaken
from gated.grants import granted_secrets
from gated.inbox import place_files
from gated.planning import Plan, agent_settings, follow_ups, next_plan, payload_message
from gated.queue import AgentPool
from gated.rundir import RunDirs
from gated.sandbox import (
    HostPaths,
    Launch,
    SandboxError,
    SandboxSettings,
    SandboxSpec,
    plan_launch,
    sandbox_spec,
    unconfined_reason,
)
from gated.tools import ToolService
from gated.typing_notify import TypingNotifier

log = logging.getLogger(__name__)

SCAN_PAGE = 500
RETRY_BASE_S = 0.5
RETRY_CAP_S = 300.0


class Gateway:
    """start/step/stop of the routing loop; the agent pool runs the work it plans."""

    def __init__(self, cfg: Config, conn: sqlite3.Connection) -> None:
        self.cfg = cfg
        self.conn = conn
        # One private directory per run holds both proxies' sockets (bound into its sandbox).
        self.run_dirs = RunDirs(Path(cfg.runtime_dir) if cfg.runtime_dir else None)
        self.proxy = CredentialProxy(
            Path(cfg.secret_key_file), None, cfg.proxy_ca_file, dirs=self.run_dirs
        )
        self.egress_counts = EgressCounter()
        self.egress = EgressProxy(self.egress_counts, self.run_dirs, dict(cfg.egress_resolve))
        self.tools = ToolService(cfg.db, self.run_dirs.root())
        self.typing = TypingNotifier(cfg.db)
        self.pool = AgentPool(
            cfg.db, cfg.max_agents, self.proxy, self.egress, self.tools, typing=self.typing
        )
        self.cursor = 0
        self._persisted = 0  # the gateway cursor as last written (skipped rows need no write)
        self.dirty: set[WorkKey] = set()
        self.retry_at: dict[WorkKey, datetime] = {}
        self.accepting = True
        self._known_cursors: set[str] = set()
        self._base_env = dict(os.environ)
        self.sandbox = SandboxSettings(cfg.bwrap, cfg.require_sandbox, cfg.skills_dir)
        self.mount_roots = tuple(Path(r) for r in cfg.mount_roots)

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        # Runs of a gated that is gone are taken over (agent killed, run closed) and run again;
        # a live gated's are left to it.
        taken = takeover.take_over_all(self.conn)
        closed = store.close_runs_without_key(self.conn, "gateway restarted")
        if taken or closed:
            log.warning("took over %d agent runs; closed %d without a work key", taken, closed)
        self.cursor = int(store.get_state(self.conn, bus.GATEWAY_CURSOR) or 0)
        self._persisted = self.cursor
        for prefix in (bus.AGENT_CURSOR_PREFIX, bus.TASK_CURSOR_PREFIX):
            for cursor_key in store.states_with_prefix(self.conn, prefix):
                key = WorkKey.of_cursor(cursor_key)
                if key is not None:
                    self._known_cursors.add(cursor_key)
                    self.dirty.add(key)
        log.info("gateway cursor=%d pending_keys=%d", self.cursor, len(self.dirty))

    def step(self, now: datetime) -> float | None:
        self.take_finished(now)
        self.scan()
        self.flush_egress_counts()
        return self.schedule(now)

    def stop(self, grace_s: float = 2.0) -> None:
        """Start no new runs; give running agents `grace_s`, then terminate them; write the
        egress counts not written yet."""
        self.accepting = False
        self.pool.shutdown(grace_s)
        self.typing.stop()
        self.tools.stop()
        self.proxy.stop()
        self.egress.stop()
        self.run_dirs.stop()
        self.flush_egress_counts()

    def flush_egress_counts(self) -> None:
        """Add the egress attempts counted since the last step to `egress_counts`."""
        try:
            self.egress_counts.flush(self.conn)
        except sqlite3.Error:
            log.exception("cannot write egress counts; kept for the next step")

    def info(self) -> dict[str, Any]:
        return {
            "agents_running": self.pool.running(),
            "running_folders": self.pool.running_folders(),
            "queue_depth": self.queue_depth(),
            "cursor": self.cursor,
        }

    # -- CommandContext -------------------------------------------------------------------

    def stop_folder(self, folder: str) -> bool:
        return self.pool.stop_folder(folder, "stop")

    def queue_depth(self) -> int:
        """Work keys with input waiting and no run going. Also read by the metrics scrape on
        another thread: `tuple()` copies the set in one step the gateway cannot interleave."""
        return sum(1 for k in tuple(self.dirty) if not self.pool.is_running(k))

    # -- scanning -------------------------------------------------------------------------

    def scan(self) -> None:
        """Handle every message past the gateway cursor; one transaction moves the cursor."""
        while True:
            msgs = store.new_messages(self.conn, self.cursor, SCAN_PAGE)
            if not msgs:
                return
            groups: dict[str, Group | None] = {}
            touched: dict[WorkKey, int] = {}
            unregistered: dict[str, int] = {}
            for msg in msgs:
                key = self._scan_one(msg, groups)
                if key is not None:
                    touched.setdefault(key, msg.seq - 1)
                elif groups.get(msg.chat_jid, True) is None:
                    unregistered[bus.agent_cursor(msg.chat_jid)] = msg.seq
            # What a chat said while it was not registered is never fed to an agent later.
            skipped = {k: v for k, v in unregistered.items() if k in self._known_cursors}
            last = msgs[-1].seq
            if touched or skipped or last - self._persisted >= SCAN_PAGE:
                with store.tx(self.conn):
                    for key, start in touched.items():
                        if key.cursor_key not in self._known_cursors:
                            store.cas_state(self.conn, key.cursor_key, None, str(start))
                    for cursor_key, seq in skipped.items():
                        store.set_state(self.conn, cursor_key, str(seq))
                    store.set_state(self.conn, bus.GATEWAY_CURSOR, str(last))
                self._persisted = last
            self._known_cursors.update(k.cursor_key for k in touched)
            self.cursor = last
            for key in touched:
                self.dirty.add(key)
                self.retry_at.pop(key, None)  # a new message earns an immediate retry

    def _scan_one(self, msg: Message, groups: dict[str, Group | None]) -> WorkKey | None:
        """The work key `msg` goes to (None: nobody's here); a span of the trace of a message
        from outside (our own outbound messages are passed over)."""
        traced = msg.traceparent is not None and not msg.is_from_me
        span = tracing.start("gated.route", msg.traceparent) if traced else None
        key = self._route(msg, groups)
        if span is not None:
            work = key.kind if key else "none"
            tracing.end(span, attributes={"verb": msg.verb[:32], "work": work})
        return key

    def _route(self, msg: Message, groups: dict[str, Group | None]) -> WorkKey | None:
        if msg.is_from_me or msg.verb in bus.UNANSWERED_VERBS:
            return None
        if (bus.is_scheduled_task(msg) or bus.is_delegation(msg)) and msg.group_folder:
            return WorkKey.task(msg.group_folder, msg.topic)
        if msg.chat_jid not in groups:
            groups[msg.chat_jid] = store.get_group(self.conn, msg.chat_jid)
        group = groups[msg.chat_jid]
        if group is None:
            return None  # onbod's
        cmd = parse_command(msg.content)
        if cmd is not None:
            try:
                handle_command(self.conn, self, cmd, msg, group)
            except Exception:
                log.exception("command failed chat=%s seq=%d", msg.chat_jid, msg.seq)
        return WorkKey.chat(msg.chat_jid)

    # -- planning -------------------------------------------------------------------------

    def schedule(self, now: datetime) -> float | None:
        """Start runs for pending work while capacity allows; returns seconds to the next retry."""
        wake: float | None = None
        if not self.accepting:
            return None
        for key in sorted(self.dirty, key=str):
            if self.pool.is_running(key):
                self.follow_up(key)
                continue
            retry = self.retry_at.get(key)
            if retry is not None and retry > now:
                left = (retry - now).total_seconds()
                wake = left if wake is None else min(wake, left)
                continue
            if self.pool.full():
                break
            try:
                if takeover.held_elsewhere(self.conn, key):
                    wake = takeover.RECHECK_S if wake is None else min(wake, takeover.RECHECK_S)
                    continue
                ready = next_plan(self.conn, key, self.cursor)
                if ready is None:
                    self.dirty.discard(key)
                elif (spent := budgets.exhausted(self.conn, ready.folder, now)) is not None:
                    budgets.refuse(self.conn, spent, ready.chat_jid, ready.topic)
                    self.retry_at[key] = now + timedelta(seconds=budgets.RECHECK_S)
                    wake = budgets.RECHECK_S if wake is None else min(wake, budgets.RECHECK_S)
                elif not self.pool.folder_busy(ready.folder):
                    self.launch(ready)
                    self.dirty.discard(key)
            except RunTaken:
                log.info("run held by another gated key=%s", key)
                wake = takeover.RECHECK_S if wake is None else min(wake, takeover.RECHECK_S)
            except Exception:
                log.exception("cannot start a run key=%s", key)
                self.retry_at[key] = now + timedelta(seconds=RETRY_CAP_S)
        return wake

    def follow_up(self, key: WorkKey) -> None:
        """Hand a running streaming agent its chat's new messages (stdin=stream)."""
        run = self.pool.run_for(key)
        if run is None or not run.spec.stream:
            return
        spec = run.spec
        msgs = follow_ups(self.conn, key, run.fed_upto, self.cursor, spec.folder, spec.topic)
        if msgs:
            placed = place_files(self.conn, spec.cwd, msgs)
            run.follow_up([payload_message(m, placed) for m in msgs], msgs[-1].seq)

    # -- starting and finishing -----------------------------------------------------------

    def launch(self, plan: Plan) -> None:
        """Record the run (its session_log row: batch, owner, sandbox, system messages) in one
        transaction, then start it; RunTaken when another gated holds the work key's run."""
        # One read of the folder's and its ancestors' settings: the values and which are set.
        stored = effective_stored(self.conn, plan.folder)
        folder_settings = decode(plan.folder, stored)
        command, timeout, _ = agent_settings(self.cfg, folder_settings)
        cwd = group_path(self.conn, plan.folder, create=True)
        spec = self.sandbox_spec(folder_settings, stored.keys())
        last = plan.messages[-1]
        protocol = {
            "SWITCHBOARD_GROUP_FOLDER": plan.folder,
            "SWITCHBOARD_CHAT_JID": plan.chat_jid,
            "SWITCHBOARD_TOPIC": plan.topic,
        }
        host = HostPaths(str(cwd), str(groups_dir(self.conn)), self.cfg.db)
        refused: str | None = None
        try:
            if spec.mounts:
                # Checked again at every run, by the same rule as when they were set: a path
                # may have become a symlink, or a group may have been made there, since.
                checked = store.check_mounts(self.conn, spec.mounts, self.mount_roots)
                spec = replace(spec, mounts=checked)
            started = plan_launch(spec, self.sandbox, host, command, protocol, self._base_env)
        except (SandboxError, store.InvalidInput) as exc:
            refused = f"agent not started: {exc}"
            started = Launch(command, {}, False, spec)
        sandbox = sandbox_label(started, refused, self.sandbox)
        session_id = store.get_session(self.conn, plan.folder, plan.topic)
        with store.tx(self.conn):
            fresh = store.flush_sys_msgs(self.conn, plan.folder)
            sysmsgs = plan.carried_system_messages + tuple(
                store.CarriedMessage(
                    origin=s.origin, event=s.event, body=s.body, created_at=s.created_at
                )
                for s in fresh
            )
            run_id = self._open_run(plan, sandbox, session_id, sysmsgs)
        placed = place_files(self.conn, cwd, plan.messages)  # the batch's uploaded files
        payload: dict[str, object] = {
            "group_folder": plan.folder,
            "chat_jid": plan.chat_jid,
            "topic": plan.topic,
            "session_id": session_id,
            "system_messages": list(sysmsgs),
            "messages": [payload_message(m, placed) for m in plan.messages],
        }
        persona = inherited_persona(self.conn, plan.folder)
        if persona is not None:  # the folder's own CLAUDE.md is the untouched template
            payload["persona"] = {"folder": persona.folder, "text": persona.text}
        self.pool.start(
            RunSpec(
                key=plan.key,
                folder=plan.folder,
                topic=plan.topic,
                chat_jid=plan.chat_jid,
                argv=started.argv,
                cwd=cwd,
                env=started.env,
                timeout_s=timeout,
                payload=payload,
                last_seq=last.seq,
                reply_to_id=last.id,
                run_id=run_id,
                system_messages=sysmsgs,
                secrets=granted_secrets(self.conn, plan.folder),
                limits=spec,
                confined=started.confined,
                refused=refused,
                stream=folder_settings.stdin == "stream" and plan.key.kind == "chat",
                traceparent=last.traceparent,
                trace_links=tuple(m.traceparent for m in plan.messages[:-1]),
            )
        )

    def sandbox_spec(
        self, folder: FolderSettings | None = None, explicit: Collection[str] = ()
    ) -> SandboxSpec:
        """A run's confinement: what the folder's settings say for the keys it set
        (`explicit`), else gated's flags (no folder: gated's flags alone)."""
        cfg = self.cfg
        return sandbox_spec(
            folder or FolderSettings(folder=""),
            explicit,
            sandbox=cfg.sandbox,
            memory_mb=cfg.memory_mb,
            pids=cfg.pids,
            cpu_s=cfg.cpu_s,
            disk_mb=cfg.disk_mb,
        )

    def _open_run(
        self,
        plan: Plan,
        sandbox: str,
        session_id: str | None,
        sysmsgs: tuple[store.CarriedMessage, ...],
    ) -> int:
        """The run's session_log row, inside the launch transaction: the row that owes this
        batch a re-run, else a new one (RunTaken when another gated got the key first)."""
        if plan.owed is not None:
            if not store.launch_owed_run(
                self.conn,
                plan.owed,
                sandbox=sandbox,
                session_id=session_id,
                system_messages=sysmsgs,
            ):
                raise RunTaken(str(plan.key))
            return plan.owed.id
        run = NewRun(
            plan.key,
            plan.folder,
            plan.topic,
            plan.chat_jid,
            plan.messages[-1].seq,
            sysmsgs,
            session_id=session_id,
            sandbox=sandbox,
        )
        run_id = store.open_run(self.conn, run)
        if run_id is None:
            raise RunTaken(str(plan.key))
        return run_id

    def take_finished(self, now: datetime) -> None:
        """Take the outcomes of the runs that ended (the pool's queue): their keys are looked
        at again, after a back-off when they failed."""
        for done in self.pool.take_finished():
            self.dirty.add(done.key)
            if done.advanced:
                self.retry_at.pop(done.key, None)
            elif done.failed:
                delay = min(RETRY_CAP_S, RETRY_BASE_S * 2 ** max(0, done.failures - 1))
                self.retry_at[done.key] = now + timedelta(seconds=delay)


def sandbox_label(started: Launch, refused: str | None, settings: SandboxSettings) -> str:
    """What a run runs under, as session_log.sandbox records it: 'bwrap', 'none' (the folder
    asked for none), 'unconfined:<reason>', or 'refused' (not started)."""
    if refused is not None:
        return "refused"
    if started.confined:
        return "bwrap"
    if started.spec.sandbox == "none":
        return "none"
    return f"unconfined:{unconfined_reason(started.spec, settings) or 'unknown'}"
