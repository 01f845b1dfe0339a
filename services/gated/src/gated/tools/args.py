"""Argument models of the tools (pydantic): each model is both the validator of a call's
`args` and the JSON schema the MCP server shows; a bad argument is one ToolError naming it."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gated.tools.protocol import ToolError

MAX_TEXT = 64 * 1024
M = TypeVar("M", bound="ToolArgs")


class ToolArgs(BaseModel):
    """No argument beyond the declared ones; no coercion of types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NoArgs(ToolArgs):
    pass


class SendMessage(ToolArgs):
    text: str = Field(min_length=1, max_length=MAX_TEXT, description="the message text")
    chat_jid: str | None = Field(
        default=None, description="another chat (granted); default: the run's chat"
    )


class SendFile(ToolArgs):
    path: str = Field(
        min_length=1, max_length=4096, description="a file in the group folder (or relative to it)"
    )
    caption: str | None = Field(default=None, max_length=MAX_TEXT, description="text with it")
    chat_jid: str | None = Field(
        default=None, description="another chat (granted); default: the run's chat"
    )


class History(ToolArgs):
    limit: int = Field(default=50, ge=1, le=500, description="messages, newest last")
    before_seq: int | None = Field(default=None, ge=1, description="page below this seq")
    chat_jid: str | None = Field(default=None, description="one of the group's chats")


class Search(ToolArgs):
    query: str = Field(min_length=1, max_length=200, description="text to find")
    limit: int = Field(default=20, ge=1, le=200)
    before_seq: int | None = Field(default=None, ge=1, description="older matches")


class ScheduleTask(ToolArgs):
    prompt: str = Field(min_length=1, max_length=MAX_TEXT, description="what the agent is told")
    cron: str | None = Field(default=None, description="a 5-field cron expression")
    every_s: int | None = Field(default=None, ge=1, description="an interval in seconds")
    at: str | None = Field(default=None, description="one time, ISO 8601 with an offset")
    tz: str | None = Field(default=None, description="IANA zone of the cron (default UTC)")
    context: Literal["group", "isolated"] = Field(
        default="group", description="'group': the group's session; 'isolated': a fresh one"
    )


class TaskId(ToolArgs):
    id: int = Field(ge=1, description="the task's id (list_tasks)")


def parse_args(model: type[M], args: dict[str, Any]) -> M:
    """The call's arguments as `model`, or ToolError('invalid_argument') naming the first bad
    one."""
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or None
        raise ToolError("invalid_argument", f"{where}: {first['msg']}", where) from None


def schema(model: type[ToolArgs]) -> dict[str, Any]:
    """The JSON schema of a model's arguments (MCP's inputSchema)."""
    return model.model_json_schema()


class Delegate(ToolArgs):
    folder: str = Field(min_length=1, max_length=64, description="the group to ask (child/granted)")
    prompt: str = Field(min_length=1, max_length=MAX_TEXT, description="what it is asked")


class RegisterGroup(ToolArgs):
    jid: str = Field(min_length=1, max_length=256, description="the chat, '<channel>:<id>'")
    folder: str = Field(min_length=1, max_length=64, description="its group folder")
    name: str = Field(default="", max_length=200)
    trigger_word: str = Field(default="", max_length=100)
    requires_trigger: bool = False


class AddRoute(ToolArgs):
    jid: str = Field(min_length=1, max_length=256)
    type: str = Field(description="the rule's kind (as `switchboard route add`)")
    match: str | None = Field(default=None, max_length=1000)
    target: str = Field(min_length=1, max_length=64, description="the folder it routes to")


class Approve(ToolArgs):
    jid: str = Field(min_length=1, max_length=256, description="a pending onboarding chat")


class Reject(ToolArgs):
    jid: str = Field(min_length=1, max_length=256)
    reason: str = Field(default="", max_length=1000)
