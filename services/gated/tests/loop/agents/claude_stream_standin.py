"""Stand-in for Claude Code with `--input-format stream-json`: reads user turns as JSON lines,
answers each (after FIRST_DELAY_S for the first one) with an assistant text and a result, and
ends when its stdin closes."""

import json
import os
import sys
import time

args = sys.argv[1:]
assert args[:3] == ["-p", "--input-format", "stream-json"], args
session = "stream-standin"
for turn, line in enumerate(sys.stdin):
    event = json.loads(line)
    assert event["type"] == "user", event
    text = event["message"]["content"][0]["text"]
    if turn == 0:
        time.sleep(float(os.environ.get("FIRST_DELAY_S", "0")))
    print(
        json.dumps(
            {
                "type": "assistant",
                "session_id": session,
                "message": {"content": [{"type": "text", "text": f"heard: {text}"}]},
            }
        ),
        flush=True,
    )
    print(
        json.dumps(
            {
                "type": "result",
                "subtype": "success",
                "is_error": False,
                "session_id": session,
                "result": "",
            }
        ),
        flush=True,
    )
