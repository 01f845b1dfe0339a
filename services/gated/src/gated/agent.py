"""One agent run: a subprocess in the group folder speaking DESIGN §4's protocol (one JSON object
on stdin, JSON lines on stdout), with its tool socket, network and credential proxies, limits
and a timeout (TERM → grace → KILL). Its stdin is `agent_stdin`'s, its stdout `agent_output`'s."""

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
from pathlib import Path
from typing import Any

import store
from daemonkit import tracing
from store.liveness import process_start

from gated.agent_output import AgentOutput
from gated.agent_stdin import AgentStdin, follow_up_line
from gated.credproxy import CredentialProxy
from gated.egress import EgressProxy, RunEgress
from gated.errors import SecretKeyError
from gated.forwarding import forwarded_argv
from gated.runspec import (
    LIMIT_RESULTS,
    RunOutcome,
    RunResult,
    RunSpec,
    StopReason,
    reply_id,
)
from gated.sandbox import (
    RunCgroup,
    RunLimits,
    cgroup_parent,
    network_warning,
)
from gated.sandbox.argv import TOOLS_SOCKET, with_tools
from gated.sandbox.spawn import start_process
from gated.tools import ToolRun, ToolService
from gated.tools.context import RunIdentity

__all__ = [
    "LIMIT_RESULTS",
    "AgentRun",
    "RunOutcome",
    "RunResult",
    "RunSpec",
    "StopReason",
    "agent_argv",
    "kill_orphan",
    "reply_id",
]

log = logging.getLogger(__name__)

KILL_GRACE_S = 5.0

LIMIT_WATCH_S = 0.25  # how often a running agent's limits are read


def agent_argv(command: str | list[str]) -> list[str]:
    """The argv of an agent command (a shell-like string or a list), not yet resolved: the
    executable is looked up in the PATH the agent will have (`gated.sandbox.plan_launch`)."""
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise store.InvalidInput("command", "is empty")
    return argv


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
        self.traceparent: str | None = None  # the run's span, once started (tracing on)
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
        """The run, as a span of its batch's trace (tracing on); never raises."""
        spec = self.spec
        span = tracing.start(
            "gated.agent.run",
            spec.traceparent,
            attributes={"folder": spec.folder, "topic": spec.topic, "run_id": spec.run_id},
            links=spec.trace_links,
        )
        self.traceparent = tracing.traceparent(span)
        outcome = self._execute_run()
        tracing.end(
            span,
            None if outcome.result == "ok" else (outcome.error or outcome.result),
            {"result": outcome.result, "outputs": outcome.outputs},
        )
        return outcome

    def _execute_run(self) -> RunOutcome:
        """Open the run's tool socket, egress and credential proxies, run the agent, close
        them."""
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
            spec.run_id,
            str(spec.key),
            spec.folder,
            spec.chat_jid,
            spec.topic,
            spec.last_seq,
            self.traceparent,
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
            with tracing.span(
                "gated.sandbox.start", self.traceparent, attributes={"confined": spec.confined}
            ):
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
        output = AgentOutput(spec, self.conn, lambda: self.fed_upto, self.traceparent)
        err_thread = threading.Thread(target=output.log_stderr, args=(proc.stderr,), daemon=True)
        err_thread.start()
        first = (
            json.dumps({**spec.payload, "stdin": "stream"} if spec.stream else spec.payload) + "\n"
        )
        self.stdin.start(proc.stdin, first.encode(), keep_open=spec.stream)
        outcome = RunOutcome("error", batch_end=spec.last_seq)
        try:
            output.follow(proc.stdout, outcome)
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
