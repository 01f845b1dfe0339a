"""What a run is given (`RunSpec`, built by the gateway loop) and what it ends with
(`RunOutcome`), and the deterministic ids of its replies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from store import CarriedMessage, WorkKey
from store.usage import RunUsage

from gated.sandbox import LimitName, SandboxSpec

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
    # The trace the run continues: the batch's last message's traceparent, and the others'
    # (linked). None: tracing off, or a message stored without one.
    traceparent: str | None = None
    trace_links: tuple[str | None, ...] = ()


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
    usage: RunUsage | None = None  # the sum of its result lines' `usage` (None: none reported)


def reply_id(folder: str, topic: str, last_seq: int, n: int) -> str:
    """Deterministic id of output n of the run whose batch ends at last_seq (re-runs dedupe)."""
    return f"reply:{folder}:{topic}:{last_seq}:{n}"
