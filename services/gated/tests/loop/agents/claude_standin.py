"""Stand-in for the Claude Code CLI: checks its flags, reads the prompt from stdin and prints
stream-json lines shaped like `claude -p --output-format stream-json --verbose`."""

import json
import sys

args = sys.argv[1:]
assert args[:4] == ["-p", "--output-format", "stream-json", "--verbose"], args
resume = args[args.index("--resume") + 1] if "--resume" in args else None
prompt = sys.stdin.read()
session = resume or "11111111-2222-3333-4444-555555555555"


def out(obj):
    print(json.dumps(obj), flush=True)


out({"type": "system", "subtype": "init", "session_id": session, "model": "standin", "tools": []})
if "FAIL" in prompt:
    out(
        {
            "type": "result",
            "subtype": "error_during_execution",
            "is_error": True,
            "session_id": session,
            "result": "it broke",
        }
    )
    sys.exit(1)
text = f"resumed={resume} prompt={prompt}"
out(
    {
        "type": "assistant",
        "session_id": session,
        "message": {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": text}],
        },
    }
)
out(
    {
        "type": "user",
        "session_id": session,
        "message": {"content": [{"type": "tool_result", "content": "ok"}]},
    }
)
out(
    {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "session_id": session,
        "result": text,
        "num_turns": 1,
        "total_cost_usd": 0.0123,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 300,
            "cache_read_input_tokens": 4000,
            "output_tokens": 56,
        },
    }
)
