"""Parent folders in a real gated: a child without its own agent runs its parent's (and gets its
parent's persona while its own is the template), an override wins, and `delegate` goes from a
parent to its children only: a child to its parent or a sibling is refused without a grant."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import store
from gated.agents.claude import claude_argv, persona_prompt
from gated_loop_support import (
    Gated,
    agent_command,
    ask,
    group_dir,
    put,
    reply_texts,
    wait_for,
)
from store import bus
from store.hierarchy import set_folder_parent
from store.persona import PERSONA_FILE

ECHO = f"{sys.executable} -m gated.agents.echo"


def inputs(db: Path, folder: str) -> list[dict[str, Any]]:
    path = group_dir(db, folder) / "inputs.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_child_runs_its_parents_agent_with_its_parents_persona(
    gated: Gated, conn: sqlite3.Connection
) -> None:
    store.register_group(conn, "web:h-org", "h-org")
    store.update_folder_settings(
        conn, "h-org", {"command": agent_command("record.py"), "timeout_s": "20"}, []
    )
    (group_dir(gated.db, "h-org") / PERSONA_FILE).write_text("# Org\nSpeak for the org.\n")
    store.register_group(conn, "web:h-dept", "h-dept", parent="h-org")
    store.register_group(conn, "web:h-team", "h-team", parent="h-dept")  # three levels
    store.register_group(conn, "web:h-own", "h-own", parent="h-org")
    store.update_folder_settings(conn, "h-own", {"command": ECHO}, [])  # the override

    put(conn, "web:h-team", "hello from the team")
    put(conn, "web:h-own", "hello from own")
    wait_for(lambda: inputs(gated.db, "h-team"), 30, "the org's agent ran for the team")
    wait_for(lambda: reply_texts(conn, "web:h-own"), 30, "the override's reply")
    [request] = inputs(gated.db, "h-team")  # the org's agent, run in the team's own folder
    assert [m["content"] for m in request["messages"]] == ["hello from the team"]
    assert request["group_folder"] == "h-team"
    assert request["persona"] == {"folder": "h-org", "text": "# Org\nSpeak for the org.\n"}
    wait_for(lambda: reply_texts(conn, "web:h-team"), 30, "the team's reply")
    assert reply_texts(conn, "web:h-team") == ["echo: hello from the team"]
    assert inputs(gated.db, "h-org") == []
    assert inputs(gated.db, "h-own") == []  # its own agent (echo) ran, not the org's
    assert reply_texts(conn, "web:h-own") == ["echo: hello from own"]

    # A persona of its own: the parent's is no longer sent.
    (group_dir(gated.db, "h-team") / PERSONA_FILE).write_text("# Team\n")
    put(conn, "web:h-team", "again")
    wait_for(lambda: len(inputs(gated.db, "h-team")) == 2, 30, "the second run")
    assert "persona" not in inputs(gated.db, "h-team")[1]


def test_the_claude_agent_appends_an_inherited_persona() -> None:
    persona = persona_prompt({"persona": {"folder": "org", "text": "Speak for the org."}})
    argv = claude_argv(None, persona)
    flag = argv.index("--append-system-prompt")
    assert argv[flag + 1].endswith("parent group org:\n\nSpeak for the org.")
    assert "--append-system-prompt" not in claude_argv(None, persona_prompt({}))


def test_a_parent_delegates_to_its_children_and_nothing_goes_up_or_across(
    conn: sqlite3.Connection,
) -> None:
    # boss (the tools agent) > kid-a (echo), kid-b (the tools agent, inherited) > grandkid
    store.register_group(conn, "web:d-boss", "d-boss")
    store.update_folder_settings(conn, "d-boss", {"command": agent_command("tools.py")}, [])
    store.register_group(conn, "web:d-kid-a", "d-kid-a", parent="d-boss")
    store.update_folder_settings(conn, "d-kid-a", {"command": ECHO}, [])
    store.register_group(conn, "web:d-kid-b", "d-kid-b", parent="d-boss")
    store.register_group(conn, "web:d-grandkid", "d-grandkid")
    set_folder_parent(conn, "d-grandkid", "d-kid-a")

    done = ask(
        conn,
        "web:d-boss",
        ("chat_info", {}),
        ("delegate", {"folder": "d-kid-a", "prompt": "summarise"}),
        ("delegate", {"folder": "d-grandkid", "prompt": "not a child"}),
        ("delegate", {"folder": "../etc", "prompt": "bad name"}),
    )
    info = done.pop(0)["out"]
    assert (info["parent"], info["children"]) == (None, ["d-kid-a", "d-kid-b"])
    assert done[0]["rc"] == 0, done
    assert (done[1]["rc"], done[1]["out"]["code"]) == (1, "refused")
    assert (done[2]["rc"], done[2]["out"]["code"]) == (1, "invalid_argument")
    wait_for(lambda: "echo: summarise" in reply_texts(conn, "web:d-boss"), 30, "kid-a's answer")

    up, across = ask(
        conn,
        "web:d-kid-b",
        ("delegate", {"folder": "d-boss", "prompt": "do my work"}),
        ("delegate", {"folder": "d-kid-a", "prompt": "sibling"}),
    )
    assert (up["rc"], up["out"]["code"], up["out"]["argument"]) == (1, "refused", "folder")
    assert "not a child of d-kid-b" in up["out"]["message"]
    assert (across["rc"], across["out"]["code"]) == (1, "refused")
    assert delegated_by(conn, "d-kid-b") == []  # nothing was written for a refused call

    # With a grant, the child may ask its parent.
    store.update_folder_settings(conn, "d-kid-b", {"grants.delegate_to": "d-boss"}, [])
    [granted] = ask(conn, "web:d-kid-b", ("delegate", {"folder": "d-boss", "prompt": "please"}))
    assert granted["rc"] == 0, granted
    assert delegated_by(conn, "d-kid-b") == [("d-boss", "please")]


def delegated_by(conn: sqlite3.Connection, folder: str) -> list[tuple[str, str]]:
    """(folder asked, prompt) of every prompt `folder` delegated."""
    rows = conn.execute(
        "SELECT group_folder, content FROM messages WHERE sender = ? AND sender_name = ? "
        "ORDER BY seq",
        (bus.DELEGATE_SENDER, folder),
    )
    return [(r[0], r[1]) for r in rows]
