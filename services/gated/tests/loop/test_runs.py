"""A real gated process running test agents: replies, batching, triggers, routing, sessions,
tasks, system messages, and what happens when an agent fails, hangs or prints garbage."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import store
from gated_loop_support import (
    Gated,
    agent_command,
    group_dir,
    put,
    replies,
    reply_texts,
    runs,
    wait_for,
)


def inputs(db: Path, folder: str) -> list[dict[str, Any]]:
    path = group_dir(db, folder) / "inputs.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_echo_agent_answers_each_message_and_keeps_a_session(
    gated: Gated, conn: sqlite3.Connection
) -> None:
    store.register_group(conn, "web:echo", "echo")
    seq = put(conn, "web:echo", "hello", id="hello-1")
    wait_for(lambda: reply_texts(conn, "web:echo") == ["echo: hello"], what="echo reply")
    row = wait_for(lambda: [r for r in runs(conn, "echo") if r["result"]], what="run logged")[0]
    assert row["result"] == "ok"
    assert (row["work_key"], row["batch_end"], row["sandbox"], row["limit_hit"]) == (
        "chat:web:echo",
        seq,
        "none",  # these tests run agents with SWITCHBOARD_SANDBOX=none
        None,
    )
    assert row["pid"] is not None
    assert row["session_id"].startswith("echo-")
    assert store.get_session(conn, "echo") == row["session_id"]
    reply = store.find_message(conn, "web:echo", f"reply:echo::{seq}:0")
    assert reply is not None
    assert (reply.group_folder, reply.reply_to_id, reply.source) == ("echo", "hello-1", "agent")
    out = conn.execute(
        "SELECT o.status, m.source, m.group_folder FROM outbox o JOIN messages m USING (seq) "
        "WHERE m.chat_jid = 'web:echo'"
    ).fetchall()
    assert [(r["source"], r["group_folder"]) for r in out] == [("agent", "echo")]


def test_messages_arriving_during_a_run_are_batched_into_the_next_run(
    gated: Gated, conn: sqlite3.Connection
) -> None:
    store.register_group(conn, "web:batch", "batch")
    store.update_folder_settings(
        conn, "batch", {"command": agent_command("record.py"), "env.AGENT_SLEEP": "0.4"}, []
    )
    put(conn, "web:batch", "one")
    wait_for(lambda: inputs(gated.db, "batch"), what="first run started")
    put(conn, "web:batch", "two")
    put(conn, "web:batch", "three")
    wait_for(lambda: len(reply_texts(conn, "web:batch")) == 3, what="three replies")
    batches = [[m["content"] for m in i["messages"]] for i in inputs(gated.db, "batch")]
    assert batches == [["one"], ["two", "three"]]
    first, second = inputs(gated.db, "batch")
    assert first["session_id"] is None
    assert str(second["session_id"]).startswith("rec-")


def test_without_the_trigger_word_messages_are_context_for_the_next_run(
    gated: Gated, conn: sqlite3.Connection
) -> None:
    store.register_group(
        conn,
        "web:trig",
        "trig",
        trigger_word="@andy",
        requires_trigger=True,
        agent_config={"command": agent_command("record.py")},
    )
    put(conn, "web:trig", "just chatting")
    put(conn, "web:trig", "mention @andyrew is not a trigger")
    put(conn, "web:trig", "/ping")
    wait_for(lambda: reply_texts(conn, "web:trig"), what="ping answer")
    assert inputs(gated.db, "trig") == []
    put(conn, "web:trig", "hey @ANDY what do you think?")
    put(conn, "web:trig", "trailing context")
    wait_for(lambda: inputs(gated.db, "trig"), what="triggered run")
    wait_for(lambda: len(reply_texts(conn, "web:trig")) == 4, what="replies")
    batch = [m["content"] for m in inputs(gated.db, "trig")[0]["messages"]]
    assert batch == [
        "just chatting",
        "mention @andyrew is not a trigger",
        "hey @ANDY what do you think?",
    ]
    put(conn, "web:trig", "@andy again")
    wait_for(lambda: len(inputs(gated.db, "trig")) == 2, what="second triggered run")
    batch = [m["content"] for m in inputs(gated.db, "trig")[1]["messages"]]
    assert batch == ["trailing context", "@andy again"]


def test_routes_send_messages_to_another_group_folder(
    gated: Gated, conn: sqlite3.Connection
) -> None:
    store.register_group(conn, "web:front", "front")
    store.add_route(conn, "web:front", "keyword", "invoice", "billing")
    put(conn, "web:front", "where is my Invoice?")
    wait_for(lambda: reply_texts(conn, "web:front"), what="routed reply")
    reply = store.messages_since(conn, "web:front", 0)[-1]
    assert reply.group_folder == "billing"
    assert runs(conn, "billing")
    assert not runs(conn, "front")
    assert (gated.db.parent / "groups" / "billing").is_dir()


def test_a_routed_message_runs_the_agent_of_the_folder_it_is_routed_to(
    gated: Gated, conn: sqlite3.Connection
) -> None:
    store.register_group(conn, "web:desk", "desk")  # the default echo agent
    store.update_folder_settings(conn, "accounts", {"command": agent_command("record.py")}, [])
    store.add_route(conn, "web:desk", "keyword", "invoice", "accounts")
    put(conn, "web:desk", "invoice please")
    wait_for(lambda: inputs(gated.db, "accounts"), what="the folder's own agent ran")
    assert [m["content"] for m in inputs(gated.db, "accounts")[0]["messages"]] == ["invoice please"]
    put(conn, "web:desk", "hello")
    wait_for(lambda: len(reply_texts(conn, "web:desk")) == 2, what="both replies")
    assert not (group_dir(gated.db, "desk") / "inputs.jsonl").exists()


def test_new_forgets_the_session_of_its_topic(gated: Gated, conn: sqlite3.Connection) -> None:
    store.register_group(
        conn, "web:sess", "sess", agent_config={"command": agent_command("record.py")}
    )
    put(conn, "web:sess", "first")
    wait_for(lambda: store.get_session(conn, "sess"), what="session stored")
    put(conn, "web:sess", "second")
    wait_for(lambda: len(inputs(gated.db, "sess")) == 2, what="second run")
    put(conn, "web:sess", "/new")
    wait_for(lambda: any("new session" in t for t in reply_texts(conn, "web:sess")), what="/new")
    assert store.get_session(conn, "sess") is None
    put(conn, "web:sess", "third")
    wait_for(lambda: len(inputs(gated.db, "sess")) == 3, what="third run")
    sessions = [i["session_id"] for i in inputs(gated.db, "sess")]
    assert sessions[0] is None
    assert sessions[1] is not None
    assert sessions[2] is None
    assert [m["content"] for m in inputs(gated.db, "sess")[2]["messages"]] == ["third"]


def test_task_messages_run_in_their_folder_and_topic_without_a_trigger(
    gated: Gated, conn: sqlite3.Connection
) -> None:
    store.register_group(
        conn,
        "web:tasks",
        "tasks",
        trigger_word="@bot",
        requires_trigger=True,
        agent_config={"command": agent_command("record.py")},
    )
    store.add_system_message(conn, "tasks", "timed", "task_added", "a daily report was added")
    put(
        conn,
        "web:tasks",
        "write the daily report",
        id="task:7:2026-11-23T09:00:00Z",
        verb="task",
        source="timed",
        group_folder="tasks",
        topic="task:7",
        sender="scheduler",
    )
    wait_for(lambda: reply_texts(conn, "web:tasks"), what="task reply")
    run_input = inputs(gated.db, "tasks")[0]
    assert run_input["topic"] == "task:7"
    assert [m["verb"] for m in run_input["messages"]] == ["task"]
    assert [s["event"] for s in run_input["system_messages"]] == ["task_added"]
    reply = store.messages_since(conn, "web:tasks", 0)[-1]
    assert (reply.topic, reply.content) == ("task:7", "echo: write the daily report")
    wait_for(lambda: store.get_session(conn, "tasks", "task:7"), what="task session")
    assert store.pending_system_messages(conn, "tasks") == []


def test_failed_runs_are_retried_then_the_chat_is_errored_and_recovers(
    gated: Gated, conn: sqlite3.Connection
) -> None:
    folder = group_dir(gated.db, "flaky")
    (folder / "fail").write_text("1")
    store.register_group(
        conn, "web:flaky", "flaky", agent_config={"command": agent_command("flaky.py")}
    )
    store.add_system_message(conn, "flaky", "test", "note", "keep me")
    put(conn, "web:flaky", "are you there?")
    chat = wait_for(
        lambda: (c := store.get_chat(conn, "web:flaky")) and c.errored and c, what="errored chat"
    )
    assert chat.consecutive_failures >= 3
    assert all(r["result"] == "error" for r in runs(conn, "flaky"))
    assert "without a result line" in runs(conn, "flaky")[0]["error"]
    assert reply_texts(conn, "web:flaky") == []
    events = [s.event for s in store.pending_system_messages(conn, "flaky")]
    assert "note" in events
    assert "agent_errored" in events
    assert "flaky agent: failing on purpose" in gated.log_text()
    (folder / "fail").unlink()
    put(conn, "web:flaky", "hello again")
    wait_for(lambda: len(reply_texts(conn, "web:flaky")) == 2, what="replies after recovery")
    assert reply_texts(conn, "web:flaky") == ["echo: are you there?", "echo: hello again"]
    chat = wait_for(
        lambda: (c := store.get_chat(conn, "web:flaky")) and not c.errored and c, what="recovery"
    )
    assert chat.consecutive_failures == 0


def test_an_agent_that_ignores_sigterm_is_killed_at_its_timeout(
    gated: Gated, conn: sqlite3.Connection
) -> None:
    store.register_group(
        conn,
        "web:hang",
        "hang",
        agent_config={
            "command": agent_command("hang.py"),
            "timeout_s": 0.5,
            "env": {"IGNORE_TERM": "1"},
        },
    )
    put(conn, "web:hang", "are you stuck?")
    row = wait_for(
        lambda: [r for r in runs(conn, "hang") if r["result"]], timeout=20, what="timeout"
    )[0]
    assert (row["result"], row["limit_hit"]) == ("timeout", "timeout")
    assert "timed out after 0.5s" in row["error"]
    assert "ignored SIGTERM; killing" in gated.log_text()
    # A timed-out run without output is a failure: the message stays pending for a retry.
    assert int(store.get_state(conn, "agent_cursor:web:hang") or 0) < max(
        m.seq for m in store.messages_since(conn, "web:hang", 0)
    )
    # Back to the echo agent: the folder's settings return to the defaults.
    store.update_folder_settings(conn, "hang", {}, ["command", "timeout_s", "env"])
    put(conn, "web:hang", "better now?")
    wait_for(lambda: len(reply_texts(conn, "web:hang")) == 2, timeout=20, what="echo after hang")
    assert reply_texts(conn, "web:hang") == ["echo: are you stuck?", "echo: better now?"]


def test_garbage_lines_are_logged_and_skipped_and_the_run_completes(
    gated: Gated, conn: sqlite3.Connection
) -> None:
    store.register_group(
        conn, "web:junk", "junk", agent_config={"command": agent_command("garbage.py")}
    )
    put(conn, "web:junk", "ping?")
    wait_for(lambda: len(reply_texts(conn, "web:junk")) == 2, what="good lines delivered")
    row = wait_for(lambda: [r for r in runs(conn, "junk") if r["result"]], what="run end")[0]
    assert row["result"] == "ok"
    assert reply_texts(conn, "web:junk") == ["a NUL dropped", "still here: ping?"]
    log = gated.log_text()
    assert "malformed line" in log
    assert "this is not json" in log
    assert "over 262144 bytes skipped" in log
    assert "message without text" in log


def test_stop_terminates_the_running_agent(gated: Gated, conn: sqlite3.Connection) -> None:
    store.register_group(
        conn, "web:stopme", "stopme", agent_config={"command": agent_command("hang.py")}
    )
    put(conn, "web:stopme", "take your time")
    wait_for(lambda: (group_dir(gated.db, "stopme") / "started.txt").exists(), what="agent up")
    put(conn, "web:stopme", "/stop")
    row = wait_for(lambda: [r for r in runs(conn, "stopme") if r["result"]], what="stopped")[0]
    assert row["result"] == "killed"
    assert "stopped the running agent" in reply_texts(conn, "web:stopme")
    # The stopped batch is done: no re-run of "take your time".
    put(conn, "web:stopme", "/ping")
    wait_for(lambda: len(reply_texts(conn, "web:stopme")) == 2, what="ping")
    assert len(runs(conn, "stopme")) == 1


def test_ping_chatid_and_operator_only_commands(gated: Gated, conn: sqlite3.Connection) -> None:
    store.register_group(conn, "web:cmds", "cmds")
    store.register_group(conn, "web:ops", "ops", is_operator=True)
    put(conn, "web:cmds", "/ping")
    put(conn, "web:cmds", "/chatid")
    put(conn, "web:cmds", "/approve web:stranger")
    put(conn, "web:ops", "/approve web:nobody")
    put(conn, "web:ops", "/reject")
    wait_for(lambda: len(reply_texts(conn, "web:cmds")) == 3, what="command answers")
    wait_for(lambda: len(reply_texts(conn, "web:ops")) == 2, what="operator answers")
    ping, chatid, approve = reply_texts(conn, "web:cmds")
    assert ping.startswith("pong (gated 0.1.0, queue depth ")
    assert chatid == "web:cmds"
    assert approve == "/approve works only in an operator group"
    op_approve, op_reject = reply_texts(conn, "web:ops")
    assert op_approve == "no onboarding request for web:nobody"
    assert "a chat jid is required" in op_reject
    assert all(r["source"] == "gated" for r in replies(conn, "web:cmds"))
    assert runs(conn, "cmds") == []  # commands never reach the agent


def test_unregistered_chats_are_left_to_onbod(gated: Gated, conn: sqlite3.Connection) -> None:
    put(conn, "web:stranger-1", "let me in")
    put(conn, "web:stranger-1", "/ping")
    store.register_group(conn, "web:late", "late")
    put(conn, "web:late", "after registration")
    wait_for(lambda: reply_texts(conn, "web:late"), what="registered chat answered")
    assert reply_texts(conn, "web:late") == ["echo: after registration"]
    assert [r for r in reply_texts(conn, "web:stranger-1") if "echo" in r or "pong" in r] == []


def test_what_a_chat_said_while_unregistered_is_not_fed_later(
    gated: Gated, conn: sqlite3.Connection
) -> None:
    config = {"command": agent_command("record.py")}
    store.register_group(conn, "web:rereg", "rereg", agent_config=config)
    put(conn, "web:rereg", "first")
    wait_for(lambda: reply_texts(conn, "web:rereg"), what="first reply")
    store.unregister_group(conn, "web:rereg")
    put(conn, "web:rereg", "said while away")
    wait_for(
        lambda: (
            store.get_state(conn, "gated:cursor") == str(store.latest_seq(conn))
            or int(store.get_state(conn, "agent_cursor:web:rereg") or 0) >= store.latest_seq(conn)
        ),
        what="gated saw the message",
    )
    store.register_group(conn, "web:rereg", "rereg", agent_config=config)
    put(conn, "web:rereg", "back again")
    wait_for(lambda: len(inputs(gated.db, "rereg")) == 2, what="second run")
    assert [m["content"] for m in inputs(gated.db, "rereg")[1]["messages"]] == ["back again"]


def test_at_most_max_agents_run_at_once(gated: Gated, conn: sqlite3.Connection) -> None:
    folders = [f"conc{i}" for i in range(5)]
    for folder in folders:
        store.register_group(
            conn, f"web:{folder}", folder, agent_config={"command": agent_command("hang.py")}
        )
        put(conn, f"web:{folder}", "work")

    def started() -> list[str]:
        return [f for f in folders if (group_dir(gated.db, f) / "started.txt").exists()]

    wait_for(lambda: len(started()) == 4, what="four agents running")
    info = wait_for(
        lambda: (
            (d := store.list_daemons(conn)[0].info)
            and d.get("agents_running") == 4
            and d.get("queue_depth", 0) >= 1
            and d
        ),
        what="heartbeat showing 4 running and 1 queued",
    )
    assert len(info["running_folders"]) == 4
    assert len(started()) == 4
    waiting = next(f for f in folders if f not in started())
    first = started()[0]
    put(conn, f"web:{first}", "/stop")
    wait_for(lambda: waiting in started(), what="the queued agent starting")
    for folder in folders:
        if folder != first:
            put(conn, f"web:{folder}", "/stop")
    wait_for(
        lambda: (
            all(r["result"] == "killed" for f in folders for r in runs(conn, f))
            and all(runs(conn, f) for f in folders)
        ),
        what="all stopped",
    )


def test_ignored_messages_never_reach_an_agent(gated: Gated, conn: sqlite3.Connection) -> None:
    store.register_group(
        conn, "web:ign", "ign", agent_config={"command": agent_command("record.py")}
    )
    put(conn, "web:ign", "auto-reply: out of office", verb="ignored")
    put(conn, "web:ign", "/ping", verb="ignored")
    put(conn, "web:ign", "a real question")
    wait_for(lambda: reply_texts(conn, "web:ign"), what="reply")
    assert reply_texts(conn, "web:ign") == ["echo: a real question"]
    assert [m["content"] for m in inputs(gated.db, "ign")[0]["messages"]] == ["a real question"]


def test_a_flooding_agent_is_bounded(gated: Gated, conn: sqlite3.Connection) -> None:
    store.register_group(
        conn, "web:flood", "flood", agent_config={"command": agent_command("flood.py")}
    )
    put(conn, "web:flood", "say a lot")
    row = wait_for(lambda: [r for r in runs(conn, "flood") if r["result"]], what="run end")[0]
    texts = reply_texts(conn, "web:flood")
    assert texts == [f"line {i}" for i in range(100)]  # the per-run cap
    assert "over the cap of 100 skipped" in gated.log_text()
    assert "draining" in gated.log_text()
    # The result line came after the read limit, so the run is an error, but it did answer:
    # its messages are done and are not fed again.
    assert row["result"] == "error"
    assert int(store.get_state(conn, "agent_cursor:web:flood") or 0) == max(
        m.seq for m in store.messages_since(conn, "web:flood", 0) if not m.is_from_me
    )
