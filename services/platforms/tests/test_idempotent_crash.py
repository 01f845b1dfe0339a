"""Exactly once through a gated crash (issue 17): gated is killed after switchboard-telegram
answered its /send with 200 but before gated recorded the send (`mark_sent`). The restarted
gated sends the reply again under the same idempotency key; the adapter answers it from its
record and posts nothing, so the Telegram user sees the reply once.

The window is made on purpose, not raced: the Telegram stand-in holds sendMessage while gated
is stopped (SIGSTOP, blocked in its /send call), then answers; the adapter records the key and
writes its 200 to a socket nobody reads; gated is then killed (SIGKILL) and started again on
the same database and port."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import store
from real_gated import RealGated
from telegram_process import AdapterProcess
from telegram_standin import TelegramStandin
from testkit import wait_for

CHAT_ID = 42
JID = f"tg:{CHAT_ID}"
ROUNDS = 3
TIMEOUT_S = 30.0
# The reply's delivery (parameter: its text); one row once the agent's reply is stored.
REPLY_SQL = """
SELECT m.id, o.status, o.attempts FROM outbox o JOIN messages m ON m.seq = o.seq
WHERE m.chat_jid = ? AND m.is_from_me AND m.content = ?
"""
OPEN_RUNS_SQL = "SELECT COUNT(*) FROM session_log WHERE ended_at IS NULL"


def reply_row(db: Path, text: str) -> sqlite3.Row | None:
    conn = store.connect(db, readonly=True)
    try:
        row: sqlite3.Row | None = conn.execute(REPLY_SQL, (JID, text)).fetchone()
        return row
    finally:
        conn.close()


def no_open_run(db: Path) -> bool:
    conn = store.connect(db, readonly=True)
    try:
        return int(conn.execute(OPEN_RUNS_SQL).fetchone()[0]) == 0
    finally:
        conn.close()


def held_sends(telegram: TelegramStandin, text: str) -> list[object]:
    return [c for c in telegram.calls("sendMessage") if c.get("held") and c.get("text") == text]


def crash_between_200_and_mark_sent(
    gated: RealGated, adapter: AdapterProcess, telegram: TelegramStandin, text: str
) -> None:
    """One user message whose reply's first /send is answered 200 to a gated that is killed
    before it reads the answer; gated started again. Asserts the first try was not recorded."""
    reply = f"echo: {text}"
    telegram.hold("sendMessage")
    telegram.user_message(CHAT_ID, text)
    wait_for(lambda: held_sends(telegram, reply), TIMEOUT_S, "gated's /send at Telegram")
    # The run that wrote the reply is over: the restarted gated owes only its delivery.
    wait_for(lambda: no_open_run(gated.db), TIMEOUT_S, "the agent's run to end")
    row = reply_row(gated.db, reply)
    assert row is not None
    assert (row["status"], row["attempts"]) == ("sending", 1)
    key = f"{row['id']}:1"
    gated.signal(signal.SIGSTOP)
    telegram.release("sendMessage")
    # Recorded and answered 200, into the socket of a gated that cannot read it.
    adapter.wait_logged(f"sent chat={JID} key={key} ")
    gated.kill()
    row = reply_row(gated.db, reply)
    assert row is not None
    assert row["status"] == "sending", "mark_sent ran before the kill"
    gated.start()
    adapter.wait_logged(f"send repeated, not posted again chat={JID} key={key} ")


def test_a_reply_is_seen_once_when_gated_dies_between_the_adapters_200_and_mark_sent(
    tmp_path: Path, telegram: TelegramStandin
) -> None:
    gated = RealGated(tmp_path, {JID: "tgdemo"}).start()
    adapter = AdapterProcess(tmp_path, telegram, gated.url).start()
    try:
        adapter.wait_logged("registered with gated")
        for n in range(ROUNDS):
            text = f"round {n}"
            crash_between_200_and_mark_sent(gated, adapter, telegram, text)

            def sent(reply: str = f"echo: {text}") -> sqlite3.Row | None:
                row = reply_row(gated.db, reply)
                return row if row is not None and row["status"] == "sent" else None

            row = wait_for(sent, TIMEOUT_S, "the restarted gated to record the send")
            assert row is not None
            assert row["attempts"] == 2  # sent twice by gated, posted once by the adapter
            assert [m["text"] for m in telegram.messages()] == [
                f"echo: round {i}" for i in range(n + 1)
            ]
        assert adapter.stop() == 0
        assert gated.stop() == 0
    finally:
        if adapter.proc is not None and adapter.proc.poll() is None:
            adapter.kill()
        gated.kill()
