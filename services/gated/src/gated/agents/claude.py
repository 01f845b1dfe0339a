"""`switchboard-agent-claude`: runs the Claude Code CLI in print mode (`claude -p --output-format
stream-json --verbose [--resume SESSION]`, prompt on stdin) and maps its events to our protocol.
When the run has a tool socket, Claude gets Switchboard's tools: `switchboard-mcp` through
`--mcp-config` (a JSON text, never a file in the group folder) and `--allowedTools
mcp__switchboard`, so print mode may call them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from store import bus

from gated.agents.claude_stream import TurnFeeder
from gated.agents.tool_client import TOKEN_ENV, TOOLS_ENV

CLAUDE_BIN_ENV = "SWITCHBOARD_CLAUDE_BIN"
EXTRA_ARGS_ENV = "SWITCHBOARD_CLAUDE_ARGS"  # extra flags, e.g. "--model sonnet"
MCP_SERVER = "switchboard"  # Claude names the tools mcp__switchboard__<tool>


def build_prompt(request: dict[str, Any]) -> str:
    """The text given to Claude: queued system events, then the new chat messages."""
    parts: list[str] = []
    for sm in request.get("system_messages") or []:
        parts.append(f"[system event {sm.get('event', '')}] {sm.get('body', '')}")
    for msg in request.get("messages") or []:
        who = msg.get("sender_name") or msg.get("sender") or "user"
        if msg.get("verb") == bus.TASK and msg.get("sender") == bus.DELEGATE_SENDER:
            parts.append(f"[asked by the group {who}] {msg.get('content', '')}")
        elif msg.get("verb") == bus.TASK:
            parts.append(f"[scheduled task] {msg.get('content', '')}")
        else:
            parts.append(f"{who}: {msg.get('content', '')}")
    return "\n\n".join(parts)


def mcp_config() -> str | None:
    """The `--mcp-config` JSON that starts `switchboard-mcp` for this run (None: no tools)."""
    tools, token = os.environ.get(TOOLS_ENV), os.environ.get(TOKEN_ENV)
    if not tools or not token:
        return None
    beside = os.path.join(os.path.dirname(sys.executable), "switchboard-mcp")
    command = beside if os.path.exists(beside) else shutil.which("switchboard-mcp")
    server: dict[str, object] = {
        "command": command or "switchboard-mcp",
        "args": [],
        "env": {TOOLS_ENV: tools, TOKEN_ENV: token},
    }
    return json.dumps({"mcpServers": {MCP_SERVER: server}})


def persona_prompt(request: dict[str, Any]) -> str | None:
    """The parent folder's persona gated sends when this folder has none of its own (its
    CLAUDE.md is the untouched template), as text for `--append-system-prompt`."""
    persona = request.get("persona")
    if not isinstance(persona, dict) or not isinstance(persona.get("text"), str):
        return None
    return (
        f"This group has no persona of its own; it follows the persona of its parent group "
        f"{persona.get('folder', '')}:\n\n{persona['text']}"
    )


def claude_argv(session_id: str | None, persona: str | None = None) -> list[str]:
    argv = [os.environ.get(CLAUDE_BIN_ENV) or "claude", "-p"]
    argv += ["--output-format", "stream-json", "--verbose"]
    if session_id:
        argv += ["--resume", session_id]
    if persona:
        argv += ["--append-system-prompt", persona]
    config = mcp_config()
    if config is not None:
        argv += ["--mcp-config", config, "--allowedTools", f"mcp__{MCP_SERVER}"]
    argv += os.environ.get(EXTRA_ARGS_ENV, "").split()
    return argv


def claude_usage(event: dict[str, Any]) -> dict[str, Any] | None:
    """Our result's `usage` from Claude Code's result event: its `total_cost_usd` (`cost_usd`
    in older versions) and its tokens, input counting cache writes and reads."""
    given = event.get("usage")
    tokens: dict[str, Any] = given if isinstance(given, dict) else {}
    cost = event.get("total_cost_usd", event.get("cost_usd"))
    if not tokens and cost is None:
        return None

    def number(name: str) -> int:
        value = tokens.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    return {
        "input_tokens": sum(
            number(k)
            for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        ),
        "output_tokens": number("output_tokens"),
        "cost_usd": cost if isinstance(cost, int | float) and not isinstance(cost, bool) else 0,
    }


def emit(out: TextIO, obj: dict[str, Any]) -> None:
    out.write(json.dumps(obj) + "\n")
    out.flush()


def translate(
    events: Iterable[str],
    out: TextIO,
    session_id: str | None,
    on_result: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Map stream-json lines to `message` lines; return our final `result` object."""
    result: dict[str, Any] = {"type": "result", "status": "error", "session_id": session_id}
    said_anything = False
    for line in events:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        session_id = event.get("session_id") or session_id
        kind = event.get("type")
        if kind == "assistant":
            for block in (event.get("message") or {}).get("content") or []:
                if isinstance(block, dict) and block.get("type") == "text" and block.get("text"):
                    emit(out, {"type": "message", "text": block["text"]})
                    said_anything = True
        elif kind == "result":
            failed = bool(event.get("is_error")) or event.get("subtype") != "success"
            text = event.get("result")
            if not said_anything and not failed and isinstance(text, str) and text.strip():
                emit(out, {"type": "message", "text": text})
            result = {
                "type": "result",
                "status": "error" if failed else "ok",
                "session_id": session_id,
                "error": (str(text or event.get("subtype")) if failed else None),
            }
            if (usage := claude_usage(event)) is not None:
                result["usage"] = usage
            said_anything = False  # each turn (stdin=stream) ends in its own result
            if on_result is not None:
                on_result()
    result["session_id"] = session_id
    if result["status"] == "error" and not result.get("error"):
        result["error"] = "claude ended without a result event"
    return result


def main() -> int:
    request = json.loads(sys.stdin.readline() or "{}")
    session_id = request.get("session_id") or None
    streaming = request.get("stdin") == "stream"
    argv = claude_argv(session_id, persona_prompt(request))
    if streaming:
        argv[argv.index("-p") + 1 : argv.index("-p") + 1] = ["--input-format", "stream-json"]
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
        )
    except OSError as exc:
        emit(sys.stdout, {"type": "result", "status": "error", "error": f"{argv[0]}: {exc}"})
        return 1
    assert proc.stdin is not None
    assert proc.stdout is not None
    if streaming:
        batch = request.get("messages") or []
        last_seq = int(batch[-1]["seq"]) if batch else 0
        feeder = TurnFeeder(proc.stdin, build_prompt(request), last_seq)
        threading.Thread(target=feeder.follow, args=(sys.stdin,), daemon=True).start()
        result = translate(proc.stdout, sys.stdout, session_id, feeder.on_result)
        result["consumed_seq"] = feeder.consumed
    else:
        try:
            proc.stdin.write(build_prompt(request))
            proc.stdin.close()
        except BrokenPipeError:
            pass
        result = translate(proc.stdout, sys.stdout, session_id)
    rc = proc.wait()
    if rc != 0 and result["status"] == "ok":
        result = {**result, "status": "error", "error": f"claude exited with code {rc}"}
    emit(sys.stdout, result)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
