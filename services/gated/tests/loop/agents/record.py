"""Test agent: appends its stdin object to inputs.jsonl in its folder, optionally sleeps
(AGENT_SLEEP seconds, before each reply), echoes each message and keeps a session id."""

import json
import os
import sys
import time
import uuid

line = sys.stdin.readline()
request = json.loads(line)
with open("inputs.jsonl", "a", encoding="utf-8") as f:
    f.write(json.dumps(request) + "\n")
delay = float(os.environ.get("AGENT_SLEEP", "0"))
for msg in request["messages"]:
    time.sleep(delay)
    print(json.dumps({"type": "message", "text": f"echo: {msg['content']}"}), flush=True)
session = request.get("session_id") or f"rec-{uuid.uuid4().hex[:8]}"
print(json.dumps({"type": "result", "status": "ok", "session_id": session}), flush=True)
