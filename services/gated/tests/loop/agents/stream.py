"""Test agent for stdin=stream: answers `echo: <text>` for its batch, then for each follow-up
line gated writes while it runs, until nothing came for IDLE_S (env, default 2) seconds; its
result names the last message it answered (`consumed_seq`) unless NO_CONSUMED is set."""

import json
import os
import select
import sys

idle = float(os.environ.get("IDLE_S", "2"))
request = json.loads(sys.stdin.readline())
assert request.get("stdin") == "stream", request
last = 0


def answer(msg: dict) -> None:
    global last
    print(json.dumps({"type": "message", "text": f"echo: {msg['content']}"}), flush=True)
    last = msg["seq"]


for msg in request["messages"]:
    answer(msg)
while select.select([sys.stdin], [], [], idle)[0]:
    line = sys.stdin.readline()
    if not line:
        break
    event = json.loads(line)
    assert event["type"] == "message", event
    answer(event["message"])
result = {"type": "result", "status": "ok"}
if not os.environ.get("NO_CONSUMED"):
    result["consumed_seq"] = last
print(json.dumps(result), flush=True)
