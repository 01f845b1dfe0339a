"""Test agent: writes started.txt and hangs; with IGNORE_TERM=1 it also ignores SIGTERM."""

import os
import signal
import sys
import time

sys.stdin.readline()
if os.environ.get("IGNORE_TERM") == "1":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open("started.txt", "a", encoding="utf-8") as f:
    f.write(f"{os.getpid()}\n")
time.sleep(120)
