"""`switchboard-mcp`: an MCP server on stdio (the official `mcp` SDK) that offers the run's
Switchboard tools and forwards each call to gated's tool socket (`SWITCHBOARD_TOOLS`, with the
run's token). The tools and their schemas are gated's (`tools/list`), so the agent sees exactly
what its group may use; a refused call is an MCP tool error carrying gated's error JSON."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import uuid
from typing import Any

import anyio
import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from gated.agents.tool_client import ToolClient, ToolSocketError

SERVER_NAME = "switchboard"


class Forwarder:
    """One connection to the tool socket, used by one call at a time."""

    def __init__(self) -> None:
        self.client = ToolClient()
        self.lock = threading.Lock()

    def call(self, tool: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
        with self.lock:
            return self.client.call(tool, args, call_id)


def build_server(forwarder: Forwarder) -> Server[Any]:
    async def list_tools(
        _ctx: Any, _params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        answer = await anyio.to_thread.run_sync(forwarder.call, "tools/list", {}, uuid.uuid4().hex)
        if not answer.get("ok"):
            raise RuntimeError(json.dumps(answer.get("error")))
        tools = [
            types.Tool(name=t["name"], description=t["description"], input_schema=t["input_schema"])
            for t in answer["result"]["tools"]
        ]
        return types.ListToolsResult(tools=tools)

    async def call_tool(_ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        # One id per MCP request: a retry of the same request would need the same id, which
        # MCP does not carry, so gated's per-batch effect keys are what make re-runs safe.
        answer = await anyio.to_thread.run_sync(
            forwarder.call, params.name, dict(params.arguments or {}), uuid.uuid4().hex
        )
        if answer.get("ok"):
            text = json.dumps(answer.get("result"), ensure_ascii=False)
            return types.CallToolResult(content=[types.TextContent(type="text", text=text)])
        text = json.dumps(answer.get("error"), ensure_ascii=False)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], is_error=True
        )

    return Server(SERVER_NAME, on_list_tools=list_tools, on_call_tool=call_tool)


async def serve() -> None:
    server = build_server(Forwarder())
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def main() -> int:
    try:
        asyncio.run(serve())
    except ToolSocketError as exc:
        print(f"switchboard-mcp: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
