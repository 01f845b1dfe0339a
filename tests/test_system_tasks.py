"""Scheduled tasks through the whole system: added with the CLI while timed runs, fired by
timed at their time, answered by the group's agent through gated, recorded as runs. (A recurring
every-second task under kill -9 is in test_system_crash.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def test_task_added_by_cli_fires_and_the_agent_reply_is_recorded(system: Any) -> None:
    system.cli("group", "add", "web:tasks", "tasks")
    # far enough ahead for the CLI to start on a loaded machine
    at = (datetime.now(UTC) + timedelta(seconds=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    task = system.cli_json("task", "add", "--chat", "web:tasks", "--at", at, "--prompt", "tick")

    system.wait_for(
        lambda: "echo: tick" in system.replies("web:tasks"), 30, "the agent's answer to the task"
    )
    runs = system.cli_json("task", "runs", str(task["id"]), "--limit", "100000")
    assert [r["status"] for r in runs] == ["fired"]
    fired = system.query(
        "SELECT sender, verb, group_folder FROM messages WHERE seq = ?", runs[0]["message_seq"]
    )
    assert dict(fired[0]) == {"sender": "scheduler", "verb": "task", "group_folder": "tasks"}
    listed = {t["id"]: t for t in system.cli_json("task", "list")}
    assert listed[task["id"]]["status"] == "completed"
    assert system.replies("web:tasks") == ["echo: tick"]
