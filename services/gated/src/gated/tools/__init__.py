"""The agent's tools: a per-run unix socket where gated executes calls (send a message,
schedule a task, read history, …) with the run's own identity, checked against the group's
grants, exactly once, each one recorded in `tool_calls`."""

from gated.tools.protocol import ToolError
from gated.tools.service import ToolRun, ToolService

__all__ = ["ToolError", "ToolRun", "ToolService"]
