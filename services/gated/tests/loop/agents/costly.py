"""Test agent with a price: appends its stdin object to inputs.jsonl in its folder, answers each
message, and reports in its result line the usage AGENT_COST_USD says (default $1 a run)."""

import json
import os
import sys

request = json.loads(sys.stdin.readline())
with open("inputs.jsonl", "a", encoding="utf-8") as f:
    f.write(json.dumps(request) + "\n")
for msg in request["messages"]:
    print(json.dumps({"type": "message", "text": f"paid: {msg['content']}"}), flush=True)
usage = {
    "input_tokens": 100,
    "output_tokens": 20,
    "cost_usd": float(os.environ.get("AGENT_COST_USD", "1")),
}
print(json.dumps({"type": "result", "status": "ok", "usage": usage}), flush=True)
