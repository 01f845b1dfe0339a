""" "Remind me in 2 seconds" through the whole system: the agent calls its schedule_task tool,
gated is killed with -9 right after the call, and still exactly one reminder is set, fired by
timed and answered by the agent in the same chat."""

from __future__ import annotations

import sys
from typing import Any

import store

AGENT = r"""
import json, os, sys, time
from datetime import UTC, datetime, timedelta
from gated.agents.tool_client import ToolClient
request = json.loads(sys.stdin.readline())
first_run = not os.path.exists("called")
for msg in request["messages"]:
    if msg["verb"] == "task":
        print(json.dumps({"type": "message", "text": "reminder: " + msg["content"]}), flush=True)
        continue
    open("called", "w").close()
    at = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    client = ToolClient()
    answer = client.call("schedule_task", {"prompt": "stand up", "at": at})
    client.close()
    print(json.dumps({"type": "log", "text": json.dumps(answer)}), flush=True)
    if first_run:
        time.sleep(60)  # killed with gated, before its run ends
    print(json.dumps({"type": "message", "text": "I will remind you"}), flush=True)
print(json.dumps({"type": "result", "status": "ok"}), flush=True)
"""


def test_remind_me_in_two_seconds_survives_kill_9_with_one_reminder(fresh_system: Any) -> None:
    s = fresh_system
    s.cli("group", "add", "web:remind", "remind")
    folder = s.root / "groups" / "remind"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agent.py").write_text(AGENT)
    s.cli("group", "config", "remind", "--set", f"command={sys.executable} agent.py")
    conn = store.connect(s.db)
    try:
        store.put_message(
            conn, store.NewMessage(id="r1", chat_jid="web:remind", content="remind me in 2 s")
        )
        s.wait_for(lambda: len(schedule_calls(s)) == 1, 30, "the schedule_task call")
        s.kill9("gated")  # right after the call, while the agent still runs
        s.wait_for(
            lambda: "reminder: stand up" in s.replies("web:remind"), 60, "the reminder's answer"
        )
        s.wait_for(
            lambda: "I will remind you" in s.replies("web:remind"), 30, "the re-run's answer"
        )
        tasks = s.query("SELECT id FROM scheduled_tasks WHERE group_folder = 'remind'")
        assert len(tasks) == 1
        fired = s.query("SELECT status FROM task_runs WHERE task_id = ?", tasks[0]["id"])
        assert [r["status"] for r in fired] == ["fired"]
        assert s.replies("web:remind").count("reminder: stand up") == 1
        first, second = schedule_calls(s)
        assert second["replay_of"] == first["id"]
    finally:
        conn.close()


def schedule_calls(s: Any) -> list[Any]:
    return list(
        s.query("SELECT id, replay_of FROM tool_calls WHERE tool = 'schedule_task' ORDER BY id")
    )
