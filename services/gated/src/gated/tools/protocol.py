"""The tool socket's wire format (pure): one JSON object per line each way. A request is
`{"token", "id", "tool", "args"}`; the answer `{"id", "ok": true, "result"}` or
`{"id", "ok": false, "error": {"code", "argument", "message"}}`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal

MAX_REQUEST_BYTES: Final = 1024 * 1024  # one request line
CALL_ID_RE: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
TOOL_RE: Final = re.compile(r"[a-z_]{1,64}")
# The meta call that lists the tools this run may use (name, description, input schema).
LIST_TOOLS: Final = "tools/list"

ErrorCode = Literal[
    "bad_request",  # not a request: malformed JSON, a missing or mistyped field
    "unauthorized",  # wrong token, or the run is over
    "unknown_tool",
    "invalid_argument",  # an argument is missing, mistyped or out of range
    "refused",  # the group's grants do not allow it
    "failed",  # gated could not do it (the message says why)
]


class ToolError(Exception):
    """A call that is not carried out; names the argument at fault when there is one."""

    def __init__(self, code: ErrorCode, message: str, argument: str | None = None) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.argument = argument

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "argument": self.argument, "message": self.message}


@dataclass(frozen=True, slots=True)
class Request:
    token: str
    call_id: str
    tool: str
    args: dict[str, Any] = field(default_factory=dict)


def parse_request(line: bytes) -> Request:
    """A request line, or ToolError('bad_request') naming what is wrong."""
    if len(line) > MAX_REQUEST_BYTES:
        raise ToolError("bad_request", f"a request is at most {MAX_REQUEST_BYTES} bytes")
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ToolError("bad_request", f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ToolError("bad_request", "a request is a JSON object")
    token, call_id, tool = obj.get("token"), obj.get("id"), obj.get("tool")
    args = obj.get("args", {})
    if not isinstance(token, str) or not token:
        raise ToolError("bad_request", "'token' must be the run's token", "token")
    if not isinstance(call_id, str) or not CALL_ID_RE.fullmatch(call_id):
        raise ToolError("bad_request", "'id' must be 1-128 of A-Z a-z 0-9 . _ : -", "id")
    if not isinstance(tool, str) or not (TOOL_RE.fullmatch(tool) or tool == LIST_TOOLS):
        raise ToolError("bad_request", "'tool' must be a tool name", "tool")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ToolError("bad_request", "'args' must be a JSON object", "args")
    return Request(token, call_id, tool, args)


def ok_line(call_id: str | None, result: Any) -> bytes:
    return json.dumps({"id": call_id, "ok": True, "result": result}).encode() + b"\n"


def error_line(call_id: str | None, error: ToolError) -> bytes:
    return json.dumps({"id": call_id, "ok": False, "error": error.as_json()}).encode() + b"\n"


def call_id_of(line: bytes) -> str | None:
    """The request's id, when a malformed request still has a usable one (for the answer)."""
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    call_id = obj.get("id") if isinstance(obj, dict) else None
    return call_id if isinstance(call_id, str) and CALL_ID_RE.fullmatch(call_id) else None
