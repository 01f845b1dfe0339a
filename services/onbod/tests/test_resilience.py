"""onbod under stress: restarts in every state, a spamming stranger, and operators racing each
other from separate processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import store
from onbod import api
from onbod_harness import Onbod, add_operator, handoff_count, replies, say, wait_for, wait_settled

APPROVER = """
import json, os, sys, time
import store
from onbod import api
db, by, action, barrier, *jids = sys.argv[1:]
conn = store.connect(db)
while not os.path.exists(barrier):
    time.sleep(0.001)
out = []
for jid in jids:
    d = api.approve(conn, jid, by) if action == "approve" else api.reject(conn, jid, by, "no")
    out.append({"jid": jid, "ok": d.ok, "message": d.message})
print(json.dumps(out))
"""


def greetings(conn: sqlite3.Connection, jid: str) -> int:
    return sum("name for your world" in r for r in replies(conn, jid))


def test_restart_in_every_state_resumes_without_a_second_greeting(
    conn: sqlite3.Connection, onbod: Callable[..., Onbod]
) -> None:
    jid = "tg:42"
    daemon = onbod()
    say(conn, jid, "hello, first request")
    wait_for(lambda: replies(conn, jid), what="greeting")
    daemon.stop()

    # awaiting_name: a wrong answer sent while onbod was down is handled after the restart.
    say(conn, jid, "Not Valid")
    daemon = onbod()
    wait_for(lambda: len(replies(conn, jid)) == 2, what="rules after restart")
    assert "cannot be a world name" in replies(conn, jid)[1]
    daemon.stop()

    daemon = onbod()
    wait_settled(conn)
    assert len(replies(conn, jid)) == 2
    say(conn, jid, "valid-name")
    wait_for(lambda: [p.jid for p in api.pending(conn)] == [jid], what="pending")
    daemon.stop()

    # pending: kept, no reminder within the hour, nothing repeated.
    say(conn, jid, "are you there?")
    daemon = onbod()
    wait_settled(conn)
    assert len(replies(conn, jid)) == 3
    daemon.stop()

    # approved while onbod is down: the chat is registered and onbod stays silent.
    assert api.approve(conn, jid, "cli:op").ok
    daemon = onbod()
    say(conn, jid, "hello agent")
    wait_settled(conn)
    said = replies(conn, jid)
    assert len(said) == 4
    assert "was approved" in said[3]
    assert greetings(conn, jid) == 1
    row = api.get(conn, jid)
    assert row is not None
    assert row.first_message == "hello, first request"
    assert handoff_count(conn) == 1

    # rejected, then restarted: still silent.
    other = "tg:43"
    say(conn, other, "hi")
    wait_for(lambda: replies(conn, other), what="greeting")
    assert api.reject(conn, other, "cli:op").ok
    daemon.stop()
    say(conn, other, "why?")
    onbod()
    wait_settled(conn)
    assert len(replies(conn, other)) == 2
    assert greetings(conn, other) == 1


def test_a_thousand_messages_from_one_stranger_get_rate_limited_prompts(
    conn: sqlite3.Connection, onbod: Callable[..., Onbod]
) -> None:
    add_operator(conn)
    onbod()
    spammer, other = "tg:666", "tg:7"
    batch = [
        store.NewMessage(id=f"s{i}", chat_jid=spammer, content=f"BUY NOW #{i}", sender=spammer)
        for i in range(500)
    ]
    batch.append(store.NewMessage(id="o1", chat_jid=other, content="hello", sender=other))
    batch += [
        store.NewMessage(id=f"t{i}", chat_jid=spammer, content=f"spam-{i}", sender=spammer)
        for i in range(500)
    ]
    store.put_messages(conn, batch)
    wait_for(lambda: replies(conn, other), what="the other chat's greeting")
    wait_settled(conn)

    said = replies(conn, spammer)
    assert len(said) == 3, said  # greeting, one "ask again", "awaits approval"
    assert "name for your world" in said[0]
    assert "cannot be a world name" in said[1]
    assert 'Your world "spam-0" now awaits' in said[2]
    assert len(replies(conn, "tg:ops")) == 1
    assert len(replies(conn, other)) == 1
    assert "name for your world" in replies(conn, other)[0]
    rows = {r.jid: r for r in api.list_onboarding(conn)}
    assert set(rows) == {spammer, other}
    assert rows[spammer].messages == 1000
    assert rows[spammer].status == "pending"
    assert rows[other].status == "awaiting_name"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    outbound = conn.execute("SELECT COUNT(*) FROM messages WHERE is_from_me = 1").fetchone()[0]
    assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == outbound == 5


def race(db: Path, tmp_path: Path, jids: list[str], actions: list[str]) -> list[list[dict]]:
    """Run one process per action against the same jids, released at the same instant."""
    barrier = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPROVER, str(db), f"op{i}", action, str(barrier), *jids],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, action in enumerate(actions)
    ]
    barrier.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    return results


def test_two_operators_approving_at_once_one_wins_the_other_is_told(
    db: Path, tmp_path: Path, conn: sqlite3.Connection, onbod: Callable[..., Onbod]
) -> None:
    onbod("--prompt-interval", "0")
    jids = [f"tg:{100 + i}" for i in range(6)]
    for i, jid in enumerate(jids):
        say(conn, jid, f"request {i}", msg_id=f"first-{i}")
        wait_for(lambda jid=jid: replies(conn, jid), what="greeting")
        say(conn, jid, f"world-{i}")
    wait_for(lambda: len(api.pending(conn)) == len(jids), what="all pending")

    first, second = race(db, tmp_path, jids, ["approve", "approve"])
    for a, b in zip(first, second, strict=True):
        assert a["ok"] != b["ok"], (a, b)
        loser = b if a["ok"] else a
        assert "already approved by op" in loser["message"]
    for i, jid in enumerate(jids):
        assert store.get_group(conn, jid) is not None
        handoffs = conn.execute(
            "SELECT COUNT(*) FROM messages WHERE chat_jid = ? AND id = ?",
            (jid, f"onboard:first-{i}"),
        ).fetchone()[0]
        assert handoffs == 1
        assert sum("was approved" in r for r in replies(conn, jid)) == 1
        assert len(store.routes_for(conn, jid)) == 1


def test_approve_racing_reject_decides_exactly_once(
    db: Path, tmp_path: Path, conn: sqlite3.Connection, onbod: Callable[..., Onbod]
) -> None:
    onbod()
    jids = [f"tg:{200 + i}" for i in range(4)]
    for i, jid in enumerate(jids):
        say(conn, jid, f"request {i}")
        wait_for(lambda jid=jid: replies(conn, jid), what="greeting")
        say(conn, jid, f"place-{i}")
    wait_for(lambda: len(api.pending(conn)) == len(jids), what="all pending")

    approvals, rejections = race(db, tmp_path, jids, ["approve", "reject"])
    for a, r in zip(approvals, rejections, strict=True):
        assert a["ok"] != r["ok"], (a, r)
        row = api.get(conn, a["jid"])
        assert row is not None
        registered = store.get_group(conn, a["jid"]) is not None
        assert (row.status == "approved") == a["ok"] == registered


def test_kill_9_in_the_middle_of_a_burst_loses_and_repeats_nothing(
    conn: sqlite3.Connection, onbod: Callable[..., Onbod]
) -> None:
    spammer = "tg:999"
    batch = [
        store.NewMessage(id=f"k{i}", chat_jid=spammer, content=f"NOT A NAME {i}", sender=spammer)
        for i in range(1500)
    ]
    first = store.put_messages(conn, batch)[0].seq
    daemon = onbod()
    wait_for(
        lambda: int(store.get_state(conn, "onbod:cursor", "0") or 0) > first + 50,
        what="onbod halfway",
    )
    assert daemon.proc is not None
    daemon.proc.kill()
    daemon.proc.wait(timeout=15)
    daemon.proc = None
    onbod()
    wait_settled(conn)
    row = api.get(conn, spammer)
    assert row is not None
    assert row.messages == 1500
    said = replies(conn, spammer)
    assert len(said) == 2, said  # the greeting and one "ask again"
    assert greetings(conn, spammer) == 1
