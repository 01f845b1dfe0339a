"""`switchboard-tool TOOL [JSON_ARGS]`: one call of the run's tools from a shell or a script
(standard library only). Prints the JSON result and exits 0; a refused call prints the error
as JSON on stdout and exits 1; bad usage or no tool socket exits 2 with a line on stderr."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import uuid
from collections.abc import Sequence
from typing import Any

# The run's tool socket and token, as gated sets them for every run (gated.tools.service).
TOOLS_ENV = "SWITCHBOARD_TOOLS"
TOKEN_ENV = "SWITCHBOARD_RUN_TOKEN"  # noqa: S105 (a variable name)
TIMEOUT_S = 120.0
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class ToolSocketError(Exception):
    """The tool socket cannot be reached or answered something that is not an answer."""


class ToolClient:
    """A connection to the run's tool socket; `call` sends one request and reads its answer."""

    def __init__(self, path: str | None = None, token: str | None = None) -> None:
        path = path or os.environ.get(TOOLS_ENV)
        token = token or os.environ.get(TOKEN_ENV)
        if not path or not token:
            raise ToolSocketError(f"no tool socket: {TOOLS_ENV} and {TOKEN_ENV} are not set")
        self.token = token
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT_S)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise ToolSocketError(f"cannot connect to the tool socket {path}: {exc}") from None
        self.reader = self.sock.makefile("rb")

    def call(self, tool: str, args: dict[str, Any], call_id: str | None = None) -> dict[str, Any]:
        """The answer object: {"id", "ok", "result"} or {"id", "ok": false, "error"}."""
        request = {
            "token": self.token,
            "id": call_id or uuid.uuid4().hex,
            "tool": tool,
            "args": args,
        }
        try:
            self.sock.sendall(json.dumps(request).encode() + b"\n")
            line = self.reader.readline(MAX_ANSWER_BYTES)
        except OSError as exc:
            raise ToolSocketError(f"the tool socket failed: {exc}") from None
        try:
            answer = json.loads(line)
        except ValueError:
            raise ToolSocketError(f"not an answer: {line[:200]!r}") from None
        if not isinstance(answer, dict) or "ok" not in answer:
            raise ToolSocketError(f"not an answer: {line[:200]!r}")
        return answer

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="switchboard-tool",
        description="Call one of Switchboard's tools from inside an agent run. "
        f"Needs {TOOLS_ENV} and {TOKEN_ENV}, which gated sets for every run.",
    )
    p.add_argument("tool", help="the tool's name; 'list' shows the tools this run may use")
    p.add_argument("args", nargs="?", default="{}", help="the arguments as a JSON object")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    ns = parse_args(argv)
    try:
        args = json.loads(ns.args)
    except ValueError as exc:
        print(f"switchboard-tool: the arguments are not JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(args, dict):
        print("switchboard-tool: the arguments must be a JSON object", file=sys.stderr)
        return 2
    try:
        client = ToolClient()
        try:
            answer = client.call("tools/list" if ns.tool == "list" else ns.tool, args)
        finally:
            client.close()
    except ToolSocketError as exc:
        print(f"switchboard-tool: {exc}", file=sys.stderr)
        return 2
    if answer.get("ok"):
        print(json.dumps(answer.get("result"), indent=2, ensure_ascii=False))
        return 0
    print(json.dumps(answer.get("error"), ensure_ascii=False))
    return 1


if __name__ == "__main__":
    sys.exit(main())
