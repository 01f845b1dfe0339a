"""IMAP inbound against a real dovecot: mail delivered by LMTP is stored once, restarts and a
UIDVALIDITY change neither duplicate nor lose mail, and the channel survives the server going
down at start and mid-IDLE."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import store
from email_testkit import Dovecot, SmtpServer, email_config, mail
from gated.email.service import EmailChannel
from gated.email.threads import threads_for_chat
from gated.migrations import MIGRATIONS
from testkit import wait_for


@contextmanager
def channel_running(cfg: Any) -> Iterator[EmailChannel]:
    channel = EmailChannel(cfg)
    stop = threading.Event()
    thread = threading.Thread(target=channel.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield channel
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive(), "email channel did not stop within 10 s"


def email_rows(db: Path) -> list[sqlite3.Row]:
    conn = store.connect(db)
    try:
        return conn.execute("SELECT * FROM messages WHERE source = 'email' ORDER BY seq").fetchall()
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "messages.db"
    store.open(path, {"gated": MIGRATIONS}).close()  # what gated's start-up does
    return path


def test_delivered_mail_is_stored_once_with_thread(
    db: Path, dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    cfg = email_config(db, dovecot, smtp_server)
    with channel_running(cfg) as channel:
        wait_for(lambda: channel.status().get("connected"), 10, "imap connection")
        dovecot.deliver(mail(body="What is the weather?"))
        rows = wait_for(lambda: email_rows(db), 10, "the mail in the store")
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == "<m1@example.org>"
    assert row["chat_jid"] == "email:alice@example.org"
    assert row["sender_name"] == "Alice"
    assert row["verb"] == "message"
    assert row["content"] == "What is the weather?"
    conn = store.connect(db)
    threads = threads_for_chat(conn, "email:alice@example.org")
    assert [t.thread_id for t in threads] == ["<m1@example.org>"]
    assert threads[0].subject == "Hello"
    # A restart re-reads nothing: still one row.
    with channel_running(cfg) as channel:
        wait_for(lambda: channel.status().get("synced_at"), 10, "a sync")
    assert len(email_rows(db)) == 1


def test_restart_and_uidvalidity_change_lose_nothing_and_duplicate_nothing(
    db: Path, dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    cfg = email_config(db, dovecot, smtp_server)
    with channel_running(cfg) as channel:
        wait_for(lambda: channel.status().get("connected"), 10, "imap connection")
        for i in range(3):
            dovecot.deliver(mail(msg_id=f"<a{i}@example.org>", body=f"first {i}"))
        wait_for(lambda: len(email_rows(db)) == 3, 10, "three mails stored")
    # Mail arriving while gated is down is read after the restart.
    for i in range(2):
        dovecot.deliver(mail(msg_id=f"<b{i}@example.org>", body=f"while down {i}"))
    with channel_running(cfg) as channel:
        wait_for(lambda: len(email_rows(db)) == 5, 10, "mail sent while down")
        before = channel.status()["uidvalidity"]
    # Now the server renumbers the mailbox (new UIDVALIDITY) while gated is down, and more
    # mail arrives; the re-sync stores the new mail and nothing twice.
    dovecot.stop()
    dovecot.reset_uidvalidity()
    dovecot.start()
    dovecot.deliver(mail(msg_id="<c0@example.org>", body="after renumbering"))
    with channel_running(cfg) as channel:
        wait_for(lambda: len(email_rows(db)) >= 6, 10, "mail after the UIDVALIDITY change")
        assert channel.status()["uidvalidity"] != before
        dovecot.deliver(mail(msg_id="<c1@example.org>", body="later"))
        wait_for(lambda: len(email_rows(db)) >= 7, 10, "mail in the new session")
    ids = [r["id"] for r in email_rows(db)]
    assert sorted(ids) == sorted(
        [f"<a{i}@example.org>" for i in range(3)]
        + [f"<b{i}@example.org>" for i in range(2)]
        + ["<c0@example.org>", "<c1@example.org>"]
    )


def test_imap_down_at_start_and_mid_idle_keeps_running_and_catches_up(
    db: Path, dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    cfg = email_config(db, dovecot, smtp_server)
    dovecot.stop()
    with channel_running(cfg) as channel:
        wait_for(lambda: channel.status().get("last_error"), 10, "a failed connection")
        dovecot.start()
        dovecot.deliver(mail(msg_id="<d0@example.org>"))
        wait_for(lambda: len(email_rows(db)) == 1, 15, "catch-up after the server came up")
        assert channel.status()["connected"]
        # Server goes away while we IDLE; mail arrives after it is back.
        dovecot.stop()
        wait_for(lambda: not channel.status()["connected"], 10, "the channel to notice")
        dovecot.start()
        dovecot.deliver(mail(msg_id="<d1@example.org>"))
        wait_for(lambda: len(email_rows(db)) == 2, 15, "catch-up after reconnecting")
    assert [r["id"] for r in email_rows(db)] == ["<d0@example.org>", "<d1@example.org>"]
