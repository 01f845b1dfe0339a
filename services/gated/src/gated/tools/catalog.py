"""Every tool by name: its argument model, whether it changes anything (then it runs exactly
once per batch), whether it needs `grants.operator`, and what it does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gated.tools import chat_tools, file_tools, group_tools, task_tools
from gated.tools.args import (
    AddRoute,
    Approve,
    Delegate,
    History,
    NoArgs,
    RegisterGroup,
    Reject,
    ScheduleTask,
    Search,
    SendFile,
    SendMessage,
    TaskId,
    ToolArgs,
    schema,
)
from gated.tools.context import CallContext


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    args: type[ToolArgs]
    run: Callable[[CallContext, Any], Any]
    effect: bool  # changes something: exactly once per (batch, tool, n)
    operator: bool = False  # needs grants.operator

    def listing(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": schema(self.args),
        }


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool(
            "chat_info",
            "The run's chat, folder, topic, channel, the group's chats and grants.",
            NoArgs,
            chat_tools.chat_info,
            effect=False,
        ),
        Tool(
            "send_message",
            "Send a message to the run's chat, or to another chat the group is granted.",
            SendMessage,
            chat_tools.send_message,
            effect=True,
        ),
        Tool(
            "send_file",
            "Send a file of the group folder (at most 25 MiB) to the run's chat or a granted one.",
            SendFile,
            file_tools.send_file,
            effect=True,
        ),
        Tool(
            "history",
            "A page of one of the group's chats, oldest first (default: the run's chat).",
            History,
            chat_tools.history,
            effect=False,
        ),
        Tool(
            "search",
            "Messages of the group's chats containing a text, newest first.",
            Search,
            chat_tools.search,
            effect=False,
        ),
        Tool(
            "schedule_task",
            "Schedule a prompt for this chat: exactly one of cron, every_s or at.",
            ScheduleTask,
            task_tools.schedule_task,
            effect=True,
        ),
        Tool("list_tasks", "The group's scheduled tasks.", NoArgs, task_tools.list_tasks, False),
        Tool("pause_task", "Pause one of the group's tasks.", TaskId, task_tools.pause_task, True),
        Tool("resume_task", "Resume a paused task.", TaskId, task_tools.resume_task, True),
        Tool(
            "cancel_task", "Delete one of the group's tasks.", TaskId, task_tools.cancel_task, True
        ),
        Tool(
            "delegate",
            "Ask a child group or a granted one (grants.delegate_to); its answer comes here.",
            Delegate,
            group_tools.delegate,
            effect=True,
        ),
        Tool(
            "list_groups",
            "Every registered chat and its folder.",
            NoArgs,
            group_tools.list_groups,
            effect=False,
            operator=True,
        ),
        Tool(
            "register_group",
            "Register a chat to a group folder.",
            RegisterGroup,
            group_tools.register_group,
            effect=True,
            operator=True,
        ),
        Tool(
            "add_route",
            "Add a routing rule to a chat.",
            AddRoute,
            group_tools.add_route,
            effect=True,
            operator=True,
        ),
        Tool(
            "approve",
            "Approve a pending onboarding request.",
            Approve,
            group_tools.approve,
            effect=True,
            operator=True,
        ),
        Tool(
            "reject",
            "Reject an onboarding request, with a reason for the sender.",
            Reject,
            group_tools.reject,
            effect=True,
            operator=True,
        ),
    )
}
