"""Stand-in for the Claude Code CLI with MCP: takes `--mcp-config` and `--allowedTools` as
Claude does, starts the configured stdio server with the official `mcp` client SDK, lists its
tools, calls `mcp__switchboard__send_message`, and reports in stream-json what it saw."""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

args = sys.argv[1:]
config = json.loads(args[args.index("--mcp-config") + 1])
allowed = args[args.index("--allowedTools") + 1]
prompt = sys.stdin.read()
server = config["mcpServers"]["switchboard"]


async def use_tools() -> dict:
    params = StdioServerParameters(
        command=server["command"], args=server["args"], env=server.get("env")
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        listed = await session.list_tools()
        sent = await session.call_tool("send_message", {"text": f"via MCP: {prompt}"})
        refused = await session.call_tool("history", {"chat_jid": "web:someone-else"})
        return {
            "tools": sorted(t.name for t in listed.tools),
            "sent": json.loads(sent.content[0].text),
            "refused": json.loads(refused.content[0].text),
            "refused_is_error": refused.is_error,
        }


seen = asyncio.run(use_tools())
seen["allowed"] = allowed
text = json.dumps(seen)
session = "mcp-standin-session"
print(json.dumps({"type": "system", "subtype": "init", "session_id": session}), flush=True)
print(
    json.dumps(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "session_id": session,
            "result": text,
        }
    ),
    flush=True,
)
