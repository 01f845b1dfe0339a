"""Stand-in for the Claude Code CLI that talks to the API the way Claude Code does: POST
$ANTHROPIC_BASE_URL/v1/messages with $ANTHROPIC_API_KEY in x-api-key (plus a forged
Authorization), reads the SSE stream, and prints the text as stream-json. It also writes what
it could see (environment, argv, its parent's environment and command line) to seen.json in
its working directory, for the test to search for the secret."""

import json
import os
import sys
import urllib.request
from pathlib import Path

args = sys.argv[1:]
assert args[:4] == ["-p", "--output-format", "stream-json", "--verbose"], args
prompt = sys.stdin.read()
base = os.environ["ANTHROPIC_BASE_URL"]
request = urllib.request.Request(  # noqa: S310
    base + "/v1/messages",
    data=json.dumps({"model": "standin", "stream": True, "messages": [prompt]}).encode(),
    headers={
        "content-type": "application/json",
        "x-api-key": os.environ.get("ANTHROPIC_API_KEY", ""),
        "authorization": "Bearer forged-by-the-agent",
        "anthropic-version": "2023-06-01",
    },
    method="POST",
)
text = ""
# The base URL is the http:// one gated handed over (checked by the test), never file: or custom.
with urllib.request.urlopen(request, timeout=20) as resp:  # noqa: S310
    content_type = resp.headers.get("content-type")
    for raw in resp:
        line = raw.decode().strip()
        if line.startswith("data: "):
            data = json.loads(line[6:])
            text += data.get("delta", {}).get("text", "")


def read(path):
    try:
        return Path(path).read_bytes().decode(errors="replace")
    except OSError as exc:
        return f"unreadable: {exc}"


ppid = os.getppid()
Path("seen.json").write_text(
    json.dumps(
        {
            "environ": dict(os.environ),
            "proc_environ": read("/proc/self/environ"),
            "argv": sys.argv,
            "parent_environ": read(f"/proc/{ppid}/environ"),
            "parent_cmdline": read(f"/proc/{ppid}/cmdline"),
            "content_type": content_type,
        }
    )
)
session = "22222222-3333-4444-5555-666666666666"
print(json.dumps({"type": "system", "subtype": "init", "session_id": session}), flush=True)
message = {"role": "assistant", "content": [{"type": "text", "text": text}]}
print(json.dumps({"type": "assistant", "session_id": session, "message": message}), flush=True)
result = {"type": "result", "subtype": "success", "is_error": False, "session_id": session}
print(json.dumps({**result, "result": text}), flush=True)
