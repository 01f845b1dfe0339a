"""Test agent: each input message is JSON `{"calls": [[tool, args], ...], "sleep_once": s}`; it
makes each call with `switchboard-tool`, then (on its first run in the folder only) sleeps, and
answers with one message listing, per call, the exit code and the printed JSON. Messages that
are not JSON are ignored."""

import json
import os
import subprocess
import sys
import time

request = json.loads(sys.stdin.readline())
first_run = not os.path.exists("slept")  # marked before any call: a killed run counts too
open("slept", "w").close()
for msg in request["messages"]:
    try:
        spec = json.loads(msg["content"])
    except ValueError:
        continue
    done = []
    for tool, args in spec.get("calls", []):
        proc = subprocess.run(
            ["switchboard-tool", tool, json.dumps(args)], capture_output=True, text=True
        )
        out = proc.stdout.strip()
        done.append({"rc": proc.returncode, "out": json.loads(out) if out else None})
        print(json.dumps({"type": "log", "text": f"called {tool}: {proc.returncode}"}), flush=True)
    if spec.get("sleep_once") and first_run:
        time.sleep(float(spec["sleep_once"]))
    print(json.dumps({"type": "message", "text": json.dumps(done)}), flush=True)
print(json.dumps({"type": "result", "status": "ok"}), flush=True)
