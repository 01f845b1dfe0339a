"""switchboard-agent-claude against a stand-in `claude` that prints real stream-json lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

AGENTS = Path(__file__).parent / "agents"


@pytest.fixture
def claude_bin(tmp_path: Path) -> Path:
    exe = tmp_path / "claude"
    exe.write_text(f"#!{sys.executable}\n" + (AGENTS / "claude_standin.py").read_text())
    exe.chmod(0o755)
    return exe


def run_agent(claude_bin: Path, request: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    agent = Path(sys.executable).parent / "switchboard-agent-claude"
    proc = subprocess.run(
        [str(agent)],
        input=json.dumps(request) + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, "SWITCHBOARD_CLAUDE_BIN": str(claude_bin)},
        timeout=30,
        check=False,
    )
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()]


def request(content: str, session_id: str | None = None) -> dict[str, Any]:
    return {
        "group_folder": "demo",
        "chat_jid": "web:demo",
        "topic": "",
        "session_id": session_id,
        "system_messages": [{"event": "task_added", "origin": "timed", "body": "daily"}],
        "messages": [
            {
                "seq": 1,
                "id": "a",
                "sender": "u1",
                "sender_name": "Ann",
                "content": content,
                "timestamp": "2026-11-23T09:00:00.000Z",
                "verb": "message",
            },
        ],
    }


def test_text_blocks_become_messages_and_the_session_is_returned(claude_bin: Path) -> None:
    rc, lines = run_agent(claude_bin, request("hello there"))
    assert rc == 0
    assert [line["type"] for line in lines] == ["message", "result"]
    assert lines[0]["text"].startswith("resumed=None prompt=")
    assert "Ann: hello there" in lines[0]["text"]
    assert "[system event task_added] daily" in lines[0]["text"]
    assert lines[1] == {
        "type": "result",
        "status": "ok",
        "session_id": "11111111-2222-3333-4444-555555555555",
        "error": None,
        # Claude's total_cost_usd; input tokens with the cache's writes and reads.
        "usage": {"input_tokens": 4312, "output_tokens": 56, "cost_usd": 0.0123},
    }


def test_a_known_session_is_resumed(claude_bin: Path) -> None:
    rc, lines = run_agent(claude_bin, request("again", session_id="abc-123"))
    assert rc == 0
    assert lines[0]["text"].startswith("resumed=abc-123 ")
    assert lines[-1]["session_id"] == "abc-123"


def test_an_error_result_is_reported_as_an_error(claude_bin: Path) -> None:
    rc, lines = run_agent(claude_bin, request("please FAIL"))
    assert rc == 1
    assert lines == [
        {
            "type": "result",
            "status": "error",
            "session_id": "11111111-2222-3333-4444-555555555555",
            "error": "it broke",
        }
    ]


def test_a_missing_claude_binary_is_an_error_result(tmp_path: Path) -> None:
    rc, lines = run_agent(tmp_path / "no-such-claude", request("hi"))
    assert rc == 1
    assert lines[-1]["status"] == "error"
    assert "no-such-claude" in lines[-1]["error"]
