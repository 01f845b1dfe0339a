"""`stdin=stream` for the Claude adapter: Claude Code reads user turns as stream-json lines
(`--input-format stream-json`); the first turn is the run's prompt, and each follow-up gated
writes while the run goes on becomes one more turn. When Claude has answered every turn it was
given, its stdin is closed and it ends; a follow-up that comes after that is not consumed (its
seq is not in `consumed_seq`), so gated hands it to the next run."""

from __future__ import annotations

import contextlib
import json
import threading
from typing import IO, Any

from store import bus


def user_turn(text: str) -> str:
    """One stream-json user message."""
    message = {"role": "user", "content": [{"type": "text", "text": text}]}
    return json.dumps({"type": "user", "message": message}) + "\n"


def follow_up_text(message: dict[str, Any]) -> str:
    who = message.get("sender_name") or message.get("sender") or "user"
    if message.get("verb") == bus.TASK:
        return f"[scheduled task] {message.get('content', '')}"
    return f"{who}: {message.get('content', '')}"


class TurnFeeder:
    """Writes turns to Claude's stdin and closes it once every turn has its result."""

    def __init__(self, claude_stdin: IO[str], first_prompt: str, first_seq: int) -> None:
        self.stdin = claude_stdin
        self.lock = threading.Lock()
        self.pending: list[int] = []  # seqs of the turns written and not yet answered
        self.consumed = first_seq
        self.closed = False
        self._write(first_prompt, first_seq)

    def _write(self, text: str, seq: int) -> None:
        try:
            self.stdin.write(user_turn(text))
            self.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            self.closed = True
            return
        self.pending.append(seq)

    def follow(self, ours: IO[str]) -> None:
        """Read gated's follow-up lines (until our stdin ends) and hand each to Claude."""
        for line in ours:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            message = event.get("message") if isinstance(event, dict) else None
            if not isinstance(message, dict) or not isinstance(message.get("seq"), int):
                continue
            with self.lock:
                if self.closed:
                    return  # too late for this run: not consumed
                self._write(follow_up_text(message), message["seq"])

    def on_result(self) -> None:
        """Claude answered its oldest pending turn; with none left, its stdin is closed."""
        with self.lock:
            if self.pending:
                self.consumed = self.pending.pop(0)
            if not self.pending and not self.closed:
                self.closed = True
                with contextlib.suppress(BrokenPipeError, OSError):
                    self.stdin.close()
