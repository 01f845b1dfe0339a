"""Test agent: prints malformed lines, an over-long line and odd objects around two good replies
(one with a NUL character in it)."""

import json
import sys

request = json.loads(sys.stdin.readline())
print("this is not json")
print("[1, 2, 3]")
print(json.dumps({"type": "mystery", "text": "?"}))
print(json.dumps({"type": "message"}))
print(json.dumps({"type": "message", "text": "a NUL\u0000 dropped"}))
print("x" * 300_000)
print(json.dumps({"type": "message", "text": "still here: " + request["messages"][-1]["content"]}))
print(json.dumps({"type": "result", "status": "ok", "session_id": "garbage"}), flush=True)
