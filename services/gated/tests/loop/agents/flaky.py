"""Test agent: exits 1 without output while a file named `fail` exists in its folder, else
echoes every message."""

import json
import os
import sys

request = json.loads(sys.stdin.readline())
if os.path.exists("fail"):
    print("flaky agent: failing on purpose", file=sys.stderr)
    sys.exit(1)
for msg in request["messages"]:
    print(json.dumps({"type": "message", "text": f"echo: {msg['content']}"}), flush=True)
print(json.dumps({"type": "result", "status": "ok", "session_id": "flaky"}), flush=True)
