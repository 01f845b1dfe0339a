"""The whole path with the real gateway: a stranger names a world, an operator sends /approve in
the operator chat, and the echo agent answers the stranger's first message exactly once. Under
`approval` and `closed` nothing from an unregistered chat reaches an agent."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import store
from onbod import api
from onbod_harness import Gated, Onbod, agent_answers, replies, say, wait_for

OPS = "web:ops"
STRANGER = "web:visitor-1"


@pytest.fixture
def gated(db: Path) -> Iterator[Gated]:
    g = Gated(db)
    yield g
    g.stop()


def barrier(conn: sqlite3.Connection, tag: str) -> None:
    """gated handles messages in seq order: once a later message in a registered chat has its
    echo, every earlier message was considered by gated."""
    say(conn, OPS, f"barrier {tag}")
    wait_for(lambda: f"echo: barrier {tag}" in agent_answers(conn, OPS), what=f"barrier {tag}")


def agent_runs(conn: sqlite3.Connection, folder: str) -> int:
    sql = "SELECT COUNT(*) FROM session_log WHERE group_folder = ?"
    return int(conn.execute(sql, (folder,)).fetchone()[0])


def test_operator_approves_in_chat_and_the_first_message_is_answered_once(
    conn: sqlite3.Connection, gated: Gated, onbod: Callable[..., Onbod]
) -> None:
    store.register_group(conn, OPS, "ops", name="operators", is_operator=True)
    onbod()
    say(conn, STRANGER, "What is the capital of Portugal?", msg_id="v1")
    wait_for(lambda: replies(conn, STRANGER), what="greeting")
    say(conn, STRANGER, "My World!")
    wait_for(lambda: len(replies(conn, STRANGER)) == 2, what="rules")
    say(conn, STRANGER, "my-world")
    wait_for(lambda: api.pending(conn), what="pending")
    wait_for(lambda: any(STRANGER in r for r in replies(conn, OPS)), what="operator notice")
    barrier(conn, "before approval")
    assert agent_answers(conn, STRANGER) == []
    assert agent_runs(conn, "my-world") == 0

    say(conn, OPS, f"/approve {STRANGER}")
    wait_for(
        lambda: "echo: What is the capital of Portugal?" in agent_answers(conn, STRANGER),
        what="the agent's answer to the first message",
    )
    assert any(f"approved {STRANGER} as world 'my-world'" in r for r in replies(conn, OPS))
    group = store.get_group(conn, STRANGER)
    assert group is not None
    assert group.folder == "my-world"

    say(conn, STRANGER, "and of Spain?")
    wait_for(lambda: "echo: and of Spain?" in agent_answers(conn, STRANGER), what="next answer")
    barrier(conn, "after approval")
    answers = agent_answers(conn, STRANGER)
    assert answers.count("echo: What is the capital of Portugal?") == 1, answers
    assert not any("my-world" in a or "My World" in a for a in answers), answers
    say(conn, OPS, f"/approve {STRANGER}")
    wait_for(
        lambda: any("already approved" in r for r in replies(conn, OPS)), what="second approve"
    )


@pytest.mark.parametrize("policy", ["approval", "closed"])
def test_nothing_from_an_unregistered_chat_reaches_an_agent(
    conn: sqlite3.Connection, gated: Gated, onbod: Callable[..., Onbod], policy: str
) -> None:
    store.register_group(conn, OPS, "ops", name="operators", is_operator=True)
    onbod("--policy", policy)
    for text in ["hello", "my-world", "please answer", "/ping", "/approve web:visitor-1"]:
        say(conn, STRANGER, text)
    barrier(conn, policy)
    wait_for(lambda: api.get(conn, STRANGER), what="onboarding row")
    assert agent_answers(conn, STRANGER) == []
    assert not any("pong" in r for r in replies(conn, STRANGER))
    assert store.get_group(conn, STRANGER) is None
    runs = conn.execute("SELECT chat_jid FROM session_log").fetchall()
    assert {r[0] for r in runs} <= {OPS}
    if policy == "closed":
        assert replies(conn, STRANGER) == []


def test_open_policy_answers_the_first_message_exactly_once(
    conn: sqlite3.Connection, gated: Gated, onbod: Callable[..., Onbod]
) -> None:
    store.register_group(conn, OPS, "ops", name="operators", is_operator=True)
    onbod("--policy", "open")
    say(conn, STRANGER, "hello open world", msg_id="o1")
    wait_for(lambda: "echo: hello open world" in agent_answers(conn, STRANGER), what="answer")
    say(conn, STRANGER, "second")
    wait_for(lambda: "echo: second" in agent_answers(conn, STRANGER), what="second answer")
    barrier(conn, "open")
    assert agent_answers(conn, STRANGER).count("echo: hello open world") == 1
