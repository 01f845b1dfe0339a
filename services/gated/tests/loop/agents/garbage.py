"""Test agent: prints malformed lines, an over-long line and odd objects around one good reply."""

import json
import sys

request = json.loads(sys.stdin.readline())
print("this is not json")
print("[1, 2, 3]")
print(json.dumps({"type": "mystery", "text": "?"}))
print(json.dumps({"type": "message"}))
print("x" * 300_000)
print(json.dumps({"type": "message", "text": "still here: " + request["messages"][-1]["content"]}))
print(json.dumps({"type": "result", "status": "ok", "session_id": "garbage"}), flush=True)
