"""Test agent: appends its stdin object to inputs.jsonl in its folder, with, for each attachment
that has a path, the sha256 of the file found there (or null); answers one line per message."""

import hashlib
import json
import os
import sys

request = json.loads(sys.stdin.readline())
for msg in request["messages"]:
    for att in msg.get("attachments", []):
        path = att.get("path")
        if path and os.path.isfile(path) and not os.path.islink(path):
            with open(path, "rb") as f:
                att["found_sha256"] = hashlib.sha256(f.read()).hexdigest()
        else:
            att["found_sha256"] = None
with open("inputs.jsonl", "a", encoding="utf-8") as f:
    f.write(json.dumps(request) + "\n")
for msg in request["messages"]:
    print(json.dumps({"type": "message", "text": f"echo: {msg['content']}"}), flush=True)
print(json.dumps({"type": "result", "status": "ok"}), flush=True)
