"""An agent's stdin: the run's JSON object first, then — for `stdin=stream` agents — each new
message of its chat as a further line (`{"type": "message", "message": {...}}`) while it runs.
One writer thread per run does the writing, so neither the gateway nor the run thread ever
blocks on a full pipe; a batch agent's stdin is closed after the first line, as before."""

from __future__ import annotations

import json
import logging
import queue
import threading
from typing import IO, Any

log = logging.getLogger(__name__)

_CLOSE = b""


def follow_up_line(message: dict[str, Any]) -> bytes:
    """The line that hands a running agent one more message."""
    return json.dumps({"type": "message", "message": message}).encode() + b"\n"


class AgentStdin:
    """Writes to one agent's stdin from its own thread."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._lines: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._open = False
        self._lock = threading.Lock()

    def start(self, pipe: IO[bytes], first: bytes, *, keep_open: bool) -> None:
        """Write `first`; close the pipe after it unless `keep_open` (a streaming agent)."""
        with self._lock:
            self._open = keep_open
        self._lines.put(first)
        if not keep_open:
            self._lines.put(_CLOSE)
        threading.Thread(target=self._write, args=(pipe,), daemon=True).start()

    def send(self, lines: list[bytes]) -> bool:
        """Queue follow-up lines; False when the agent's stdin is no longer open for them."""
        with self._lock:
            if not self._open:
                return False
            for line in lines:
                self._lines.put(line)
            return True

    def close(self) -> None:
        """No more lines (the run is ending): the pipe is closed once the queue is written."""
        with self._lock:
            was_open, self._open = self._open, False
        if was_open:
            self._lines.put(_CLOSE)

    def _write(self, pipe: IO[bytes]) -> None:
        try:
            while (line := self._lines.get()) != _CLOSE:
                pipe.write(line)
                pipe.flush()
        except (BrokenPipeError, OSError, ValueError):
            log.debug("agent closed stdin early folder=%s", self.folder)
            with self._lock:
                self._open = False
        finally:
            try:
                pipe.close()
            except (BrokenPipeError, OSError, ValueError):
                log.debug("agent stdin already closed folder=%s", self.folder)
