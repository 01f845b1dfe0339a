"""Test agent: writes started.txt and hangs; with IGNORE_TERM=1 it also ignores SIGTERM; with
REPLY_FIRST=1 it first answers the batch's first message."""

import json
import os
import signal
import sys
import time

request = json.loads(sys.stdin.readline())
if os.environ.get("REPLY_FIRST") == "1":
    first = request["messages"][0]["content"]
    print(json.dumps({"type": "message", "text": f"echo: {first}"}), flush=True)
if os.environ.get("IGNORE_TERM") == "1":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open("started.txt", "a", encoding="utf-8") as f:
    f.write(f"{os.getpid()}\n")
time.sleep(120)
