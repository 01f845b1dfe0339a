"""`switchboard-echo`: the default agent. Answers `echo: <text>` for each input message and keeps
a session id; no network, imports only the stdlib so it starts fast."""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    try:
        request = json.loads(sys.stdin.readline() or "{}")
    except ValueError as exc:
        print(json.dumps({"type": "result", "status": "error", "error": f"bad input: {exc}"}))
        return 1
    session = request.get("session_id") or f"echo-{os.urandom(8).hex()}"
    for msg in request.get("messages", []):
        text = str(msg.get("content", ""))
        print(json.dumps({"type": "message", "text": f"echo: {text}"}), flush=True)
    print(json.dumps({"type": "result", "status": "ok", "session_id": session}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
