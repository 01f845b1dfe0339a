"""All four daemons and the CLI writing the one database at the same time for a while → no
"database is locked" anywhere, and every message still answered once.

SWITCHBOARD_SOAK_S sets the duration in seconds (default 10; issue 9 asks for 60 in a long run:
`SWITCHBOARD_SOAK_S=60 uv run pytest tests/test_system_soak.py`)."""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

SOAK_S = float(os.environ.get("SWITCHBOARD_SOAK_S", "10"))
LOCKED = re.compile(r"database is locked|database table is locked", re.I)


def run_for(seconds: float, errors: list[str], body: Callable[[int], None]) -> threading.Thread:
    """A thread calling body(i) for i = 0, 1, ... until `seconds` pass; failures collected."""

    def loop() -> None:
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            try:
                body(i)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            i += 1

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def test_all_daemons_and_the_cli_write_concurrently_without_lock_errors(system: Any) -> None:
    s = system
    room = s.adapter("soak")
    strangers = s.adapter("soakx")
    s.cli("group", "add", "soak:room", "soakroom")
    s.cli("group", "add", "web:soakbeat", "soakbeat")
    s.cli("user", "add", "soaker", "--password-stdin", input="soak-password-123\n")
    beat = s.cli_json(
        "task", "add", "--chat", "web:soakbeat", "--cron", "* * * * * *", "--prompt", "t"
    )["id"]
    errors: list[str] = []
    posted: list[int] = []
    cli_outputs: list[str] = []

    def post(i: int) -> None:  # gated: inbound rows, agent runs, replies, outbox, sessions
        room.post("soak:room", f"s{i}", f"soak {i}", sender="u")
        posted.append(i)
        if i % 5 == 0:  # onbod: unknown chats get greeted
            strangers.post(f"soakx:{i}", "hi", "hi", sender="x")

    def cli(i: int) -> None:  # the CLI: outbound messages and task state changes
        args = ["send", "web:soakbeat", f"note {i}"] if i % 2 else ["task", "pause", str(beat)]
        if i % 4 == 3:
            args = ["task", "resume", str(beat)]
        proc = s.cli(*args, check=False)
        cli_outputs.append(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            errors.append(f"switchboard {' '.join(args)}: {proc.stderr.strip()}")

    def dashboard(i: int) -> None:  # dashd: a login writes a session row
        with s.dashboard("soaker", "soak-password-123") as web:
            assert web.get("/").status_code == 200

    threads = [run_for(SOAK_S, errors, f) for f in (post, cli, dashboard)]
    for thread in threads:
        thread.join(timeout=SOAK_S + 60)
    s.cli("task", "pause", str(beat), check=False)  # may be paused already

    assert not errors, errors[:10]
    assert len(posted) > 0
    expected = Counter(f"echo: soak {i}" for i in posted)
    s.wait_for(
        lambda: set(expected) <= set(s.replies("soak:room")), 60, "every soak message answered"
    )
    assert Counter(s.replies("soak:room")) == expected
    locked = {
        name: [line for line in text.splitlines() if LOCKED.search(line)]
        for name, text in s.all_logs().items()
    }
    locked["cli"] = [
        line for out in cli_outputs for line in out.splitlines() if LOCKED.search(line)
    ]
    assert not any(locked.values()), {k: v[:5] for k, v in locked.items() if v}
    doctor = s.cli("doctor", check=False)
    assert "integrity_check" in doctor.stdout
    assert re.search(r"integrity_check\s+ok", doctor.stdout), doctor.stdout
