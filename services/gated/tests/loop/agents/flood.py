"""Test agent: floods stdout with 10,000 message lines (more than gated reads), then a result."""

import json
import sys

sys.stdin.readline()
out = sys.stdout
for i in range(10_000):
    out.write(json.dumps({"type": "message", "text": f"line {i}"}) + "\n")
out.write(json.dumps({"type": "result", "status": "ok", "session_id": "flood"}) + "\n")
out.flush()
