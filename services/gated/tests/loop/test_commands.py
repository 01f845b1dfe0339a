"""parse_command(): the built-in chat commands and their argument errors."""

from __future__ import annotations

import pytest
from gated.commands import Command, parse_command
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/ping", Command("ping")),
        ("/PING extra words", Command("ping")),
        ("/ping@switchboard_bot", Command("ping")),
        ("/chatid", Command("chatid")),
        ("/stop", Command("stop")),
        ("/new", Command("new")),
        ("/new #work", Command("new", topic="work")),
        ("/new work", Command("new", topic="work")),
        ("/new #task:12", Command("new", topic="task:12")),
        ("/approve web:bob", Command("approve", jid="web:bob")),
        (
            "/reject email:x@y.z spam, sorry",
            Command("reject", jid="email:x@y.z", reason="spam, sorry"),
        ),
        ("/reject web:bob", Command("reject", jid="web:bob")),
    ],
)
def test_commands_parse(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    "text", ["hello", "/unknown", "please /ping", "/pingpong", "/ ping", "", "/deploy now"]
)
def test_other_text_is_not_a_command(text: str) -> None:
    assert parse_command(text) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("/approve", "jid is required"),
        ("/reject", "jid is required"),
        ("/approve web:bob and more", "unexpected text"),
        ("/approve nojid", "malformed jid"),
        ("/new #two words", "bad topic"),
        ("/new #", "bad topic"),
    ],
)
def test_bad_arguments_give_a_usage_error(text: str, problem: str) -> None:
    cmd = parse_command(text)
    assert cmd is not None
    assert cmd.error is not None
    assert problem in cmd.error


@given(st.text())
def test_parse_never_raises(text: str) -> None:
    cmd = parse_command(text)
    assert cmd is None or cmd.name in {"new", "ping", "chatid", "stop", "approve", "reject"}
