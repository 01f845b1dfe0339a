"""Fault-suite fixtures: misbehaving agent programs, and an adapter that retries like a real one
(the same message id until gated accepts it)."""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

POST_RETRY_S = 60.0
REPEATS = int(os.environ.get("SWITCHBOARD_FAULT_REPEATS", "3"))

# Each agent reads its request, then misbehaves in one way.
AGENTS = {
    "hang": "import sys, time\nsys.stdin.read()\ntime.sleep(3600)\n",
    "crash": 'import sys\nsys.stdin.read()\nprint(\'{"type": "message", "text"\', flush=True)\n'
    "raise SystemExit(3)\n",
    "flood": "import sys\nsys.stdin.read()\nline = 'x' * 2000 + '\\n'\n"
    "for _ in range(20000):\n    sys.stdout.write(line)\n"
    "sys.stdout.write('y' * 600000 + '\\n')\n"
    'print(\'{"type": "result", "status": "ok"}\', flush=True)\n',
    "badjson": "import sys\nsys.stdin.read()\nprint('{not json', flush=True)\n"
    'print(\'{"type": "message", "text": 5}\', flush=True)\nprint(\'[1, 2]\', flush=True)\n'
    'print(\'{"type": "result", "status": 7}\', flush=True)\n',
}


@pytest.fixture
def bad_agents() -> dict[str, str]:
    """name -> agent command line for each misbehaving agent (`python -c`, so it runs the same
    inside the sandbox, which shows no file outside the group folder; the code as one line,
    since a folder's command may not hold line breaks)."""
    return {
        name: f"{sys.executable} -c {shlex.quote(f'exec({code!r})')}"
        for name, code in AGENTS.items()
    }


def post_until_accepted(adapter: Any, chat_jid: str, msg_id: str, content: str) -> int:
    """Like a real adapter: retry the same message id until gated accepts it; its seq."""
    deadline = time.monotonic() + POST_RETRY_S
    while True:
        try:
            resp = httpx.post(
                f"{adapter.gated}/v1/messages",
                headers={"Authorization": f"Bearer {adapter.token}"},
                json={"chat_jid": chat_jid, "id": msg_id, "content": content, "sender": "u"},
                timeout=10,
            )
            if resp.status_code == 202:
                return int(resp.json()["seq"])
            assert resp.status_code == 503, resp.text  # back-pressure is the only other answer
        except httpx.TransportError:
            pass  # gated is down or busy right now
        if time.monotonic() > deadline:
            raise TimeoutError(f"gated never accepted {chat_jid} {msg_id}")
        time.sleep(0.1)


@pytest.fixture(name="post_until_accepted")
def post_until_accepted_fixture() -> Callable[[Any, str, str, str], int]:
    return post_until_accepted
