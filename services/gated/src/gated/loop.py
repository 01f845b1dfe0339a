"""The gateway step: follow new messages past `gated:cursor`, answer commands, and turn each
registered chat's (or task's) pending messages into agent runs with persisted cursors."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import store
from store import Group, Message
from store.agent_inputs import pending_task_messages
from store.clock import utcnow
from store.paths import group_path

from gated.agent import RunSpec, agent_argv, kill_orphan
from gated.commands import handle_command, parse_command
from gated.config import GatedConfig
from gated.queue import AgentPool, Finished
from gated.routing import contains_word, route

log = logging.getLogger(__name__)

GATEWAY_CURSOR = "gated:cursor"
CHAT_CURSOR = "agent_cursor:"
CHAT_INFLIGHT = "agent_inflight:"
TASK_CURSOR = "task_cursor:"
TASK_INFLIGHT = "task_inflight:"
SCAN_PAGE = 500
BATCH_LIMIT = 200  # input messages handed to one run (older context beyond it is skipped)
RETRY_BASE_S = 0.5
RETRY_CAP_S = 300.0

Target = tuple[str, str]  # (group folder, topic)
# Stored for the record but kept from agents and commands (e.g. mail a loop rule stopped).
SKIPPED_VERBS = frozenset({"ignored"})


@dataclass(frozen=True, slots=True)
class WorkKey:
    """A unit of serial work: a registered chat, or a (folder, topic) of timed's tasks."""

    kind: str  # 'chat' or 'task'
    name: str  # chat jid, or 'folder:topic'

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def cursor_key(self) -> str:
        return (CHAT_CURSOR if self.kind == "chat" else TASK_CURSOR) + self.name

    @property
    def inflight_key(self) -> str:
        return (CHAT_INFLIGHT if self.kind == "chat" else TASK_INFLIGHT) + self.name


@dataclass(frozen=True, slots=True)
class Plan:
    key: WorkKey
    folder: str
    topic: str
    chat_jid: str
    messages: list[Message]
    group: Group | None
    carried_system_messages: list[dict[str, Any]] = field(default_factory=list)


def select_batch(items: list[tuple[Message, Target | None]]) -> tuple[int, Target] | None:
    """Pure batch rule: the first targeted message fixes the run's (folder, topic); the batch
    runs through the last message with that target before one with another target. Returns
    (index of the batch's last message, target), or None when nothing starts a run."""
    target: Target | None = None
    end = -1
    for i, (_msg, t) in enumerate(items):
        if t is None:
            continue
        if target is None:
            target, end = t, i
        elif t == target:
            end = i
        else:
            break
    return None if target is None else (end, target)


def agent_settings(
    cfg: GatedConfig, group: Group | None
) -> tuple[list[str], float, dict[str, str]]:
    """argv, timeout and extra env of a group's agent (`agent_config`, else the defaults)."""
    conf = group.agent_config if group else {}
    command = conf.get("command") or cfg.default_agent
    timeout = conf.get("timeout_s") or conf.get("timeout") or cfg.agent_timeout_s
    env = conf.get("env") or {}
    if not isinstance(env, dict):
        raise store.InvalidInput("agent_config.env", f"must be an object, got {env!r}")
    return agent_argv(command), float(timeout), {str(k): str(v) for k, v in env.items()}


class Gateway:
    """start/step/stop of the routing loop; the agent pool runs the work it plans."""

    def __init__(self, cfg: GatedConfig, conn: sqlite3.Connection) -> None:
        self.cfg = cfg
        self.conn = conn
        self.pool = AgentPool(cfg.db, cfg.max_agents, self._finished)
        self.cursor = 0
        self._persisted = 0  # the gateway cursor as last written (skipped rows need no write)
        self.dirty: set[WorkKey] = set()
        self.retry_at: dict[WorkKey, datetime] = {}
        self.accepting = True
        self._known_cursors: set[str] = set()
        self._base_env = dict(os.environ)

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        for prefix in (CHAT_INFLIGHT, TASK_INFLIGHT):
            for raw in store.states_with_prefix(self.conn, prefix).values():
                data = json.loads(raw)
                if "pid" in data:
                    kill_orphan(int(data["pid"]), data.get("pid_start"))
        closed = store.close_abandoned_runs(self.conn)
        if closed:
            log.warning("closed %d agent runs left open by a previous gated", closed)
        self.cursor = int(store.get_state(self.conn, GATEWAY_CURSOR) or 0)
        self._persisted = self.cursor
        for key in store.states_with_prefix(self.conn, CHAT_CURSOR):
            self._known_cursors.add(key)
            self.dirty.add(WorkKey("chat", key[len(CHAT_CURSOR) :]))
        for key in store.states_with_prefix(self.conn, TASK_CURSOR):
            self._known_cursors.add(key)
            self.dirty.add(WorkKey("task", key[len(TASK_CURSOR) :]))
        log.info("gateway cursor=%d pending_keys=%d", self.cursor, len(self.dirty))

    def step(self, now: datetime) -> float | None:
        self.scan()
        return self.schedule(now)

    def stop(self, grace_s: float = 2.0) -> None:
        """Start no new runs; give running agents `grace_s`, then terminate them."""
        self.accepting = False
        self.pool.shutdown(grace_s)

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
        with self.pool.lock:
            return sum(1 for k in self.dirty if not self.pool.is_running(str(k)))

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
                    unregistered[CHAT_CURSOR + msg.chat_jid] = msg.seq
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
                    store.set_state(self.conn, GATEWAY_CURSOR, str(last))
                self._persisted = last
            self._known_cursors.update(k.cursor_key for k in touched)
            self.cursor = last
            with self.pool.lock:
                for key in touched:
                    self.dirty.add(key)
                    self.retry_at.pop(key, None)  # a new message earns an immediate retry

    def _scan_one(self, msg: Message, groups: dict[str, Group | None]) -> WorkKey | None:
        if msg.is_from_me or msg.verb in SKIPPED_VERBS:
            return None
        if msg.verb == "task" and msg.sender == "scheduler" and msg.group_folder:
            return WorkKey("task", f"{msg.group_folder}:{msg.topic}")
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
        return WorkKey("chat", msg.chat_jid)

    # -- planning -------------------------------------------------------------------------

    def schedule(self, now: datetime) -> float | None:
        """Start runs for pending work while capacity allows; returns seconds to the next retry."""
        wake: float | None = None
        if not self.accepting:
            return None
        with self.pool.lock:
            for key in sorted(self.dirty, key=str):
                if self.pool.is_running(str(key)):
                    continue
                retry = self.retry_at.get(key)
                if retry is not None and retry > now:
                    left = (retry - now).total_seconds()
                    wake = left if wake is None else min(wake, left)
                    continue
                if self.pool.full():
                    break
                try:
                    plan = self.plan(key)
                    if plan is None:
                        self.dirty.discard(key)
                    elif not self.pool.folder_busy(plan.folder):
                        self.launch(plan)
                        self.dirty.discard(key)
                except Exception:
                    log.exception("cannot start a run key=%s", key)
                    self.retry_at[key] = now + timedelta(seconds=RETRY_CAP_S)
        return wake

    def _inflight(self, key: WorkKey) -> dict[str, Any] | None:
        raw = store.get_state(self.conn, key.inflight_key)
        return json.loads(raw) if raw else None

    def plan(self, key: WorkKey) -> Plan | None:
        """The next run of a work key from the database alone (so a restart resumes it)."""
        cursor_text = store.get_state(self.conn, key.cursor_key)
        if cursor_text is None:
            return None
        inflight = self._inflight(key)
        upper = self.cursor if inflight is None else min(self.cursor, int(inflight["last_seq"]))
        carried = list(inflight.get("system_messages", [])) if inflight else []
        if key.kind == "task":
            return self._plan_task(key, int(cursor_text), upper, carried)
        return self._plan_chat(key, int(cursor_text), upper, carried)

    def _chat_pages(self, jid: str, cursor: int, upper: int) -> Iterator[Message]:
        while True:
            page = store.messages_since(self.conn, jid, cursor, 1000)
            for m in page:
                if m.seq > upper:
                    return
                yield m
            if len(page) < 1000:
                return
            cursor = page[-1].seq

    def _plan_chat(
        self, key: WorkKey, cursor: int, upper: int, carried: list[dict[str, Any]]
    ) -> Plan | None:
        group = store.get_group(self.conn, key.name)
        if group is None:
            return None
        routes = store.routes_for(self.conn, key.name)
        items: list[tuple[Message, Target | None]] = []
        target: Target | None = None
        for m in self._chat_pages(key.name, cursor, upper):
            if m.is_from_me or m.verb == "task" or m.verb in SKIPPED_VERBS:
                continue
            if parse_command(m.content) is not None:
                continue
            triggered = not group.requires_trigger or contains_word(m.content, group.trigger_word)
            t = (route(m, routes, group.folder), m.topic) if triggered else None
            if target is not None and t is not None and t != target:
                break
            target = target or t
            items.append((m, t))
            if target is not None and len(items) >= BATCH_LIMIT:
                break
        chosen = select_batch(items)
        if chosen is None:
            return None
        end, (folder, topic) = chosen
        batch = [m for m, _ in items[: end + 1]][-BATCH_LIMIT:]
        return Plan(key, folder, topic, key.name, batch, group, carried)

    def _plan_task(
        self, key: WorkKey, cursor: int, upper: int, carried: list[dict[str, Any]]
    ) -> Plan | None:
        folder, _, topic = key.name.partition(":")
        msgs = pending_task_messages(self.conn, folder, topic, cursor, upper)
        if not msgs:
            return None
        jid = msgs[0].chat_jid
        batch = []
        for m in msgs:
            if m.chat_jid != jid:
                break
            batch.append(m)
        group = store.get_group(self.conn, jid)
        if group is None or group.folder != folder:
            same = store.groups_for_folder(self.conn, folder)
            group = same[0] if same else None
        return Plan(key, folder, topic, jid, batch, group, carried)

    # -- starting and finishing -----------------------------------------------------------

    def launch(self, plan: Plan) -> None:
        """Record the run (session_log, in-flight batch) in one transaction, then start it."""
        argv, timeout, extra_env = agent_settings(self.cfg, plan.group)
        cwd = group_path(self.conn, plan.folder, create=True)
        last = plan.messages[-1]
        session_id = store.get_session(self.conn, plan.folder, plan.topic)
        with store.tx(self.conn):
            fresh = store.flush_sys_msgs(self.conn, plan.folder)
            sysmsgs = plan.carried_system_messages + [
                {"origin": s.origin, "event": s.event, "body": s.body, "created_at": s.created_at}
                for s in fresh
            ]
            run_id = store.log_session_start(
                self.conn, plan.folder, plan.topic, plan.chat_jid, session_id
            )
            inflight = {"last_seq": last.seq, "system_messages": sysmsgs}
            store.set_state(self.conn, plan.key.inflight_key, json.dumps(inflight))
        payload = {
            "group_folder": plan.folder,
            "chat_jid": plan.chat_jid,
            "topic": plan.topic,
            "session_id": session_id,
            "system_messages": sysmsgs,
            "messages": [
                {
                    "seq": m.seq,
                    "id": m.id,
                    "sender": m.sender,
                    "sender_name": m.sender_name,
                    "content": m.content,
                    "timestamp": m.timestamp,
                    "verb": m.verb,
                }
                for m in plan.messages
            ],
        }
        env = {
            **self._base_env,
            **extra_env,
            "SWITCHBOARD_GROUP_FOLDER": plan.folder,
            "SWITCHBOARD_CHAT_JID": plan.chat_jid,
            "SWITCHBOARD_TOPIC": plan.topic,
        }
        self.pool.start(
            RunSpec(
                key=str(plan.key),
                folder=plan.folder,
                topic=plan.topic,
                chat_jid=plan.chat_jid,
                argv=argv,
                cwd=cwd,
                env=env,
                timeout_s=timeout,
                payload=payload,
                last_seq=last.seq,
                reply_to_id=last.id,
                cursor_key=plan.key.cursor_key,
                inflight_key=plan.key.inflight_key,
                run_id=run_id,
                system_messages=sysmsgs,
            )
        )

    def _finished(self, done: Finished) -> None:
        """Called by the pool (under its lock) after a run's outcome is recorded."""
        kind, _, name = done.key.partition(":")
        key = WorkKey(kind, name)
        self.dirty.add(key)
        if done.advanced:
            self.retry_at.pop(key, None)
        elif done.failed:
            delay = min(RETRY_CAP_S, RETRY_BASE_S * 2 ** max(0, done.failures - 1))
            self.retry_at[key] = utcnow() + timedelta(seconds=delay)
