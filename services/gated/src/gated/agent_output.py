"""An agent's output, read as the protocol says: each `message` line stored and queued for
delivery at once (ids deterministic per batch, so a re-run stores nothing twice), `log` lines
logged, the `result` line read into the run's outcome (with its `usage`, summed over the
result lines of a streaming agent); bounded (line size, line count,
replies), malformed lines skipped; stderr logged."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from typing import IO, Final

import store
from store.usage import parse_usage

from gated.runspec import RunOutcome, RunSpec, reply_id

log = logging.getLogger(__name__)

MAX_LINE_BYTES: Final = 256 * 1024  # longer stdout lines are skipped (read to their end)
MAX_STDOUT_LINES: Final = 5_000  # lines parsed per run; the rest is drained unread
MAX_OUTPUT_MESSAGES: Final = 100  # message lines delivered per run
MAX_STDERR_LINES: Final = 200  # stderr lines logged per run


class AgentOutput:
    """Reads one run's stdout and stderr."""

    def __init__(
        self,
        spec: RunSpec,
        conn: sqlite3.Connection,
        fed_upto: Callable[[], int],
        traceparent: str | None = None,
    ) -> None:
        self.spec = spec
        self.conn = conn
        self.fed_upto = fed_upto  # the last message written to a streaming agent
        self.traceparent = traceparent  # the run's span: its replies' delivery continues it

    def log_stderr(self, stream: IO[bytes]) -> None:
        logged = 0
        for raw in stream:
            if logged < MAX_STDERR_LINES:
                text = raw[:2000].decode("utf-8", "replace").rstrip()
                log.info("agent stderr folder=%s: %s", self.spec.folder, text)
            logged += 1
        if logged > MAX_STDERR_LINES:
            log.info("agent stderr folder=%s: %d more lines not logged", self.spec.folder, logged)
        stream.close()

    def follow(self, stdout: IO[bytes], outcome: RunOutcome) -> None:
        """Read stdout to its end into `outcome`, storing each reply as it comes."""
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
                outcome.batch_end = max(spec.last_seq, min(consumed, self.fed_upto()))
            sid = obj.get("session_id")
            outcome.session_id = sid if isinstance(sid, str) and sid else outcome.session_id
            err = obj.get("error")
            outcome.result = "ok" if status == "ok" else "error"
            if (usage := parse_usage(obj.get("usage"))) is not None:
                outcome.usage = usage if outcome.usage is None else outcome.usage + usage
            outcome.error = None if status == "ok" else str(err or f"agent status {status!r}")

    def _deliver(self, text: object, outcome: RunOutcome) -> None:
        spec = self.spec
        if isinstance(text, str):
            text = text.replace("\x00", "")  # the store refuses NUL; the rest is the reply
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
                traceparent=self.traceparent,
            )
        except store.InvalidInput as exc:
            log.warning("agent message rejected folder=%s: %s", spec.folder, exc)
            return
        outcome.outputs += 1
