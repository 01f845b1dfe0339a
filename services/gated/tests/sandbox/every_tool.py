"""Test agent (copied into its group folder, run in the sandbox): calls every tool once, in
order, through `switchboard-mcp` with the official MCP client SDK (CLIENT=mcp) or through
`switchboard-tool` (CLIENT=cli), and answers with {tool: "ok" | error code}."""

import asyncio
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

request = json.loads(sys.stdin.readline())
suffix = os.environ["CLIENT"]
with open("note.txt", "w") as f:
    f.write("a file to send")
at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
CALLS = [
    ("chat_info", {}),
    ("send_message", {"text": f"hello from {suffix}"}),
    ("history", {"limit": 5}),
    ("search", {"query": "hello"}),
    ("schedule_task", {"prompt": "later", "at": at}),
    ("list_tasks", {}),
    ("pause_task", {"id": None}),
    ("resume_task", {"id": None}),
    ("cancel_task", {"id": None}),
    ("send_file", {"path": "note.txt", "caption": "the note"}),
    ("delegate", {"folder": "helper", "prompt": f"help {suffix}"}),
    ("list_groups", {}),
    ("register_group", {"jid": f"web:new-{suffix}", "folder": f"new-{suffix}"}),
    ("add_route", {"jid": f"web:new-{suffix}", "type": "default", "target": f"new-{suffix}"}),
    ("approve", {"jid": f"web:stranger-{suffix}"}),
    ("reject", {"jid": f"web:pest-{suffix}", "reason": "no"}),
]


def run_cli(tool, args):
    exe = shutil.which("switchboard-tool")
    proc = subprocess.run([exe, tool, json.dumps(args)], capture_output=True, text=True)
    out = json.loads(proc.stdout) if proc.stdout.strip() else {"code": proc.stderr.strip()}
    return proc.returncode == 0, out


async def run_mcp(calls):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=shutil.which("switchboard-mcp"), args=[], env=dict(os.environ)
    )
    results = []
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        listed = {t.name for t in (await session.list_tools()).tools}
        task_id = None
        for tool, args in calls:
            if "id" in args:
                args = {"id": task_id}
            got = await session.call_tool(tool, args)
            value = json.loads(got.content[0].text)
            if tool == "schedule_task" and not got.is_error:
                task_id = value["id"]
            results.append((tool, not got.is_error, value))
    return listed, results


report = {}
if suffix == "mcp":
    listed, results = asyncio.run(run_mcp(CALLS))
    report["listed"] = sorted(listed)
else:
    results, task_id = [], None
    for tool, args in CALLS:
        if "id" in args:
            args = {"id": task_id}
        ok, value = run_cli(tool, args)
        if tool == "schedule_task" and ok:
            task_id = value["id"]
        results.append((tool, ok, value))
report["calls"] = {tool: "ok" if ok else value.get("code") for tool, ok, value in results}
print(json.dumps({"type": "message", "text": json.dumps(report)}), flush=True)
print(json.dumps({"type": "result", "status": "ok"}), flush=True)
