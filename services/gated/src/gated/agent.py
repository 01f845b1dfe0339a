"""One agent run: a subprocess in the group folder speaking DESIGN §4's protocol (one JSON object
on stdin, JSON lines on stdout), with a timeout (TERM → grace → KILL) and bounded output."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import store
from store import CarriedMessage, WorkKey
from store.liveness import process_start

from gated.agent_stdin import AgentStdin, follow_up_line
from gated.credproxy import CredentialProxy
from gated.egress import EgressProxy, RunEgress
from gated.errors import SecretKeyError
from gated.forwarding import forwarded_argv
from gated.sandbox import (
    LimitName,
    RunCgroup,
    RunLimits,
    SandboxSpec,
    cgroup_parent,
    network_warning,
)
from gated.sandbox.argv import TOOLS_SOCKET, with_tools
from gated.sandbox.spawn import start_process
from gated.tools import ToolRun, ToolService
from gated.tools.context import RunIdentity

log = logging.getLogger(__name__)

KILL_GRACE_S = 5.0
MAX_LINE_BYTES = 256 * 1024  # longer stdout lines are skipped (read to their end, not parsed)
MAX_STDOUT_LINES = 5_000  # lines parsed per run; the rest is drained unread
MAX_OUTPUT_MESSAGES = 100  # message lines delivered per run
MAX_STDERR_LINES = 200  # stderr lines logged per run

LIMIT_WATCH_S = 0.25  # how often a running agent's limits are read

# A run that hits a limit ends with the limit's name as its result (session_log.result).
RunResult = Literal["ok", "error", "timeout", "killed", "memory", "pids", "cpu", "disk"]
StopReason = Literal["timeout", "stop", "shutdown", "memory", "pids", "cpu", "disk"]
LIMIT_RESULTS: tuple[LimitName, ...] = ("memory", "pids", "cpu", "disk")


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything a run needs; built by the gateway loop."""

    key: WorkKey  # the chat, or the (folder, topic) of task messages, the run works for
    folder: str
    topic: str
    chat_jid: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    timeout_s: float
    payload: dict[str, Any]  # the stdin object
    last_seq: int  # last input message of the batch: the cursor after success
    reply_to_id: str | None
    run_id: int  # session_log id
    system_messages: tuple[CarriedMessage, ...] = ()
    secrets: tuple[str, ...] = ()  # names granted to the folder; opened by the credential proxy
    limits: SandboxSpec | None = None  # the run's limits (None: only the timeout)
    confined: bool = False  # argv starts bubblewrap
    refused: str | None = None  # why the run may not start (e.g. it would be unconfined)
    stream: bool = False  # stdin=stream: new messages are written to the running agent


@dataclass(slots=True)
class RunOutcome:
    result: RunResult
    outputs: int = 0
    session_id: str | None = None
    error: str | None = None
    stop_reason: StopReason | None = None
    # Where the chat's cursor goes when the run advances it: the batch's last message, or for a
    # streaming agent the last follow-up it says it consumed (its result's `consumed_seq`).
    batch_end: int = 0


def agent_argv(command: str | list[str]) -> list[str]:
    """The argv of an agent command (a shell-like string or a list), not yet resolved: the
    executable is looked up in the PATH the agent will have (`gated.sandbox.plan_launch`)."""
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise store.InvalidInput("command", "is empty")
    return argv


def reply_id(folder: str, topic: str, last_seq: int, n: int) -> str:
    """Deterministic id of output n of the run whose batch ends at last_seq (re-runs dedupe)."""
    return f"reply:{folder}:{topic}:{last_seq}:{n}"


def kill_orphan(pid: int, start: str | None) -> bool:
    """SIGKILL the process group of an agent a dead gated left running (same pid and start)."""
    if start is None or process_start(pid) != start:
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
        log.warning("killed an agent left running by a previous gated pid=%d", pid)
        return True
    return False


class AgentRun:
    """Runs one agent process on its own thread and reports a RunOutcome."""

    def __init__(
        self,
        spec: RunSpec,
        conn: sqlite3.Connection,
        proxy: CredentialProxy | None = None,
        egress: EgressProxy | None = None,
        tools: ToolService | None = None,
    ) -> None:
        self.spec = spec
        self.conn = conn
        self.credentials = proxy
        self.egress = egress
        self.tools = tools
        self.proc: subprocess.Popen[bytes] | None = None
        self.stop_reason: StopReason | None = None
        self.limit_detail: str | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.stdin = AgentStdin(spec.folder)
        self.fed_upto = spec.last_seq  # the last message written to the agent
        self.consumed_seq: int | None = None  # a streaming agent's result says

    def terminate(self, reason: StopReason) -> None:
        """Ask the agent to stop (SIGTERM to its process group), SIGKILL after the grace."""
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason = reason
            proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        log.info("stopping agent folder=%s pid=%d reason=%s", self.spec.folder, proc.pid, reason)
        self._signal(proc, signal.SIGTERM)
        timer = threading.Timer(KILL_GRACE_S, self._kill, args=(proc,))
        timer.daemon = True
        timer.start()

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            log.warning(
                "agent ignored SIGTERM; killing folder=%s pid=%d", self.spec.folder, proc.pid
            )
            self._signal(proc, signal.SIGKILL)

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def execute(self) -> RunOutcome:
        """Open the run's tool socket, egress and credential proxies, run the agent, close
        them; never
        raises."""
        spec = self.spec
        if spec.refused is not None:
            log.error("agent not started folder=%s: %s", spec.folder, spec.refused)
            return RunOutcome("error", error=spec.refused)
        if spec.limits is not None and (warning := network_warning(spec.limits, spec.confined)):
            log.warning("agent network folder=%s: %s", spec.folder, warning)
        try:
            tools = self._open_tools()
        except OSError as exc:
            log.error("cannot open the run's tool socket folder=%s: %s", spec.folder, exc)
            return RunOutcome("error", error=f"tools: {exc}")
        try:
            argv, env = spec.argv, spec.env
            if tools is not None and spec.confined:
                argv = with_tools(argv, str(tools.socket_path.parent), tools.env(TOOLS_SOCKET))
            elif tools is not None:
                env = {**env, **tools.env()}
            return self._execute_networked(argv, env)
        finally:
            if tools is not None and self.tools is not None:
                self.tools.close_run(tools)
                shutil.rmtree(tools.socket_path.parent, ignore_errors=True)

    def _open_tools(self) -> ToolRun | None:
        if self.tools is None:
            return None
        spec = self.spec
        run = RunIdentity(
            spec.run_id, str(spec.key), spec.folder, spec.chat_jid, spec.topic, spec.last_seq
        )
        directory = Path(tempfile.mkdtemp(prefix=f"tools-{spec.run_id}-", dir=self.tools.runtime))
        return self.tools.open_run(run, directory)

    def _execute_networked(self, argv: list[str], env: dict[str, str]) -> RunOutcome:
        spec = self.spec
        if not spec.confined or spec.limits is None or spec.limits.network != "proxy":
            return self._execute_with_secrets(None, argv, env)
        if self.egress is None:
            return RunOutcome("error", error="network=proxy: gated has no egress proxy")
        try:
            egress = self.egress.open_run(spec.run_id, spec.folder, spec.limits.allow_hosts)
        except OSError as exc:
            log.error("cannot open the run's egress proxy folder=%s: %s", spec.folder, exc)
            return RunOutcome("error", error=f"egress proxy: {exc}")
        try:
            return self._execute_with_secrets(egress, argv, env)
        finally:
            self.egress.close_run(egress)

    def _execute_with_secrets(
        self, egress: RunEgress | None, argv: list[str], env: dict[str, str]
    ) -> RunOutcome:
        spec = self.spec
        run_proxy = None
        if spec.secrets and self.credentials is not None:
            try:
                # A sandboxed agent cannot reach this host's loopback: it gets the unix
                # socket, bound into the sandbox, through the forwarder (gated.sandbox.forwarder).
                run_proxy = self.credentials.open_run(
                    self.conn,
                    spec.run_id,
                    spec.folder,
                    spec.secrets,
                    tcp=not spec.confined,
                    run_dir=egress.run_dir if egress is not None else None,
                )
            except (SecretKeyError, store.StoreError, sqlite3.Error, OSError) as exc:
                log.error("cannot open the run's secrets folder=%s: %s", spec.folder, exc)
                return RunOutcome("error", error=f"secrets: {exc}")
        try:
            if spec.confined and (run_proxy is not None or egress is not None):
                return self._execute_limited(forwarded_argv(argv, run_proxy, egress), env)
            extra = run_proxy.env if run_proxy is not None else {}
            return self._execute_limited(argv, {**env, **extra})
        finally:
            if run_proxy is not None and self.credentials is not None:
                self.credentials.close_run(run_proxy)

    def _execute_limited(self, argv: list[str], env: dict[str, str]) -> RunOutcome:
        cgroup = self._cgroup()
        try:
            return self._execute(argv, env, cgroup)
        finally:
            if cgroup is not None:
                cgroup.remove()

    def _cgroup(self) -> RunCgroup | None:
        limits = self.spec.limits
        parent, _ = cgroup_parent()
        if limits is None or parent is None:
            return None
        try:
            return parent.create(f"run-{self.spec.run_id}", limits.memory_mb, limits.pids)
        except OSError:
            log.exception("cannot create a run cgroup; rlimits only folder=%s", self.spec.folder)
            return None

    def _execute(
        self, argv: list[str], env: dict[str, str], cgroup: RunCgroup | None
    ) -> RunOutcome:
        spec = self.spec
        watch = RunLimits(spec.limits, str(spec.cwd), cgroup) if spec.limits else None
        try:
            proc = start_process(argv, cwd=spec.cwd, env=env, limits=spec.limits, cgroup=cgroup)
        except (OSError, subprocess.SubprocessError) as exc:
            return RunOutcome("error", error=f"cannot start agent {argv[0]!r}: {exc}")
        with self._lock:
            self.proc = proc
            pending_stop = self.stop_reason
        log.info(
            "agent started folder=%s topic=%s chat=%s pid=%d batch_end=%d confined=%s",
            spec.folder,
            spec.topic,
            spec.chat_jid,
            proc.pid,
            spec.last_seq,
            spec.confined,
        )
        if pending_stop is not None:
            self.terminate(pending_stop)
        self._note_pid(proc.pid)
        timer = threading.Timer(spec.timeout_s, self.terminate, args=("timeout",))
        timer.daemon = True
        timer.start()
        if watch is not None:
            threading.Thread(target=self._watch, args=(watch,), daemon=True).start()
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        err_thread = threading.Thread(target=self._log_stderr, args=(proc.stderr,), daemon=True)
        err_thread.start()
        first = (
            json.dumps({**spec.payload, "stdin": "stream"} if spec.stream else spec.payload) + "\n"
        )
        self.stdin.start(proc.stdin, first.encode(), keep_open=spec.stream)
        outcome = RunOutcome("error", batch_end=spec.last_seq)
        try:
            self._follow(proc.stdout, outcome)
        finally:
            self.stdin.close()
            proc.stdout.close()
            rc = proc.wait()
            self._done.set()
            timer.cancel()
            err_thread.join(timeout=2.0)
        if watch is not None and self.stop_reason is None:
            hit = watch.hit_by_exit(rc)
            if hit is not None:
                with self._lock:
                    self.stop_reason, self.limit_detail = hit
        self._classify(outcome, rc)
        return outcome

    def _watch(self, limits: RunLimits) -> None:
        """Kill the run as soon as it hits a limit (a refused fork or a full quota does not
        end a process by itself)."""
        while not self._done.wait(LIMIT_WATCH_S):
            hit = limits.hit()
            if hit is None:
                continue
            limit, detail = hit
            log.warning("agent hit a limit folder=%s limit=%s: %s", self.spec.folder, limit, detail)
            with self._lock:
                if self.stop_reason is None:
                    self.limit_detail = detail
            self.terminate(limit)
            return

    def _note_pid(self, pid: int) -> None:
        """Remember the process in the run's session_log row, so a gated taking the run over
        (this one gone) can kill it."""
        try:
            store.note_pid(self.conn, self.spec.run_id, pid, process_start(pid))
        except sqlite3.Error:
            log.exception("cannot record agent pid folder=%s", self.spec.folder)

    def follow_up(self, messages: list[dict[str, Any]], upto: int) -> bool:
        """Write more messages of the chat to a streaming agent (the gateway's thread); False
        when it no longer reads them (they wait for the next run)."""
        if not self.spec.stream or upto <= self.fed_upto:
            return False
        if not self.stdin.send([follow_up_line(m) for m in messages]):
            return False
        self.fed_upto = upto
        log.info(
            "agent fed follow-ups folder=%s n=%d upto=%d", self.spec.folder, len(messages), upto
        )
        return True

    def _log_stderr(self, stream: IO[bytes]) -> None:
        logged = 0
        for raw in stream:
            if logged < MAX_STDERR_LINES:
                text = raw[:2000].decode("utf-8", "replace").rstrip()
                log.info("agent stderr folder=%s: %s", self.spec.folder, text)
            logged += 1
        if logged > MAX_STDERR_LINES:
            log.info("agent stderr folder=%s: %d more lines not logged", self.spec.folder, logged)
        stream.close()

    def _follow(self, stdout: IO[bytes], outcome: RunOutcome) -> None:
        lines = 0
        while True:
            raw = stdout.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                log.warning(
                    "agent line over %d bytes skipped folder=%s", MAX_LINE_BYTES, self.spec.folder
                )
                while (rest := stdout.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
                continue
            lines += 1
            if lines > MAX_STDOUT_LINES:
                log.warning(
                    "agent printed over %d lines; draining folder=%s", lines - 1, self.spec.folder
                )
                while stdout.read(65536):
                    pass
                return
            self._line(raw, outcome)

    def _line(self, raw: bytes, outcome: RunOutcome) -> None:
        spec = self.spec
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            return
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        kind = obj.get("type") if isinstance(obj, dict) else None
        if not isinstance(obj, dict) or kind not in ("message", "result", "log"):
            log.warning("agent printed a malformed line folder=%s line=%r", spec.folder, text[:200])
            return
        if kind == "log":
            log.info("agent log folder=%s: %s", spec.folder, str(obj.get("text", ""))[:2000])
        elif kind == "message":
            self._deliver(obj.get("text"), outcome)
        else:
            status = obj.get("status")
            consumed = obj.get("consumed_seq")
            if spec.stream and isinstance(consumed, int) and not isinstance(consumed, bool):
                # Only what was written to it, and never less than its first batch.
                outcome.batch_end = max(spec.last_seq, min(consumed, self.fed_upto))
            sid = obj.get("session_id")
            outcome.session_id = sid if isinstance(sid, str) and sid else outcome.session_id
            err = obj.get("error")
            outcome.result = "ok" if status == "ok" else "error"
            outcome.error = None if status == "ok" else str(err or f"agent status {status!r}")

    def _deliver(self, text: object, outcome: RunOutcome) -> None:
        spec = self.spec
        if not isinstance(text, str) or not text.strip():
            log.warning("agent message without text skipped folder=%s", spec.folder)
            return
        if outcome.outputs >= MAX_OUTPUT_MESSAGES:
            log.warning("agent message over the cap of %d skipped", MAX_OUTPUT_MESSAGES)
            return
        try:
            store.store_outbound(
                self.conn,
                spec.chat_jid,
                text,
                group_folder=spec.folder,
                source="agent",
                topic=spec.topic,
                reply_to_id=spec.reply_to_id,
                sender=spec.folder,
                msg_id=reply_id(spec.folder, spec.topic, spec.last_seq, outcome.outputs),
            )
        except store.InvalidInput as exc:
            log.warning("agent message rejected folder=%s: %s", spec.folder, exc)
            return
        outcome.outputs += 1

    def _classify(self, outcome: RunOutcome, rc: int) -> None:
        with self._lock:
            outcome.stop_reason = self.stop_reason
        if outcome.stop_reason == "timeout":
            outcome.result = "timeout"
            outcome.error = f"timed out after {self.spec.timeout_s:g}s"
        elif outcome.stop_reason in LIMIT_RESULTS:
            outcome.result = outcome.stop_reason
            outcome.error = self.limit_detail or f"{outcome.stop_reason} limit hit"
        elif outcome.stop_reason is not None:
            outcome.result = "killed"
            outcome.error = f"stopped ({outcome.stop_reason})"
        elif outcome.result == "error" and outcome.error is None:
            outcome.error = f"exited with code {rc} without a result line"
        log.info(
            "agent finished folder=%s chat=%s result=%s outputs=%d rc=%d",
            self.spec.folder,
            self.spec.chat_jid,
            outcome.result,
            outcome.outputs,
            rc,
        )
