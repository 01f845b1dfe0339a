"""End to end with the real gated process: mail delivered by LMTP -> stored once -> the echo
agent answers -> the SMTP server receives a threaded reply; the thread continues; automatic
mail is stored but never answered, and a second auto-responder cannot start a loop."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import store
from email_testkit import (
    ADDRESS,
    Dovecot,
    GatedProcess,
    SmtpServer,
    email_env,
    mail,
    start_gated,
    wait_until,
)
from gated.email.threads import threads_for_chat

BOB = "email:bob@example.org"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "messages.db"
    conn = store.open(path)
    store.register_group(conn, BOB, "bob")
    conn.close()
    return path


@pytest.fixture
def conn(db: Path) -> Iterator[sqlite3.Connection]:
    c = store.connect(db)
    yield c
    c.close()


@pytest.fixture
def gated(db: Path, dovecot: Dovecot, smtp_server: SmtpServer) -> Iterator[GatedProcess]:
    g = start_gated(db, email_env(db, dovecot, smtp_server, SWITCHBOARD_EMAIL_REPLIES_PER_HOUR="4"))
    yield g
    assert g.stop() == 0, g.log_text()


def inbound(conn: sqlite3.Connection, chat: str = BOB) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM messages WHERE chat_jid = ? AND is_from_me = 0 ORDER BY seq", (chat,)
    ).fetchall()


def replies(smtp: SmtpServer, n: int, gated: GatedProcess) -> list[EmailMessage]:
    def enough() -> bool:
        if gated.proc.poll() is not None:
            raise AssertionError(gated.log_text())
        return len(smtp.messages()) >= n

    wait_until(enough, 30, f"{n} replies at the SMTP server")
    return [r.message for r in smtp.messages()]


def test_mail_is_answered_in_thread_and_the_thread_continues(
    gated: GatedProcess, dovecot: Dovecot, smtp_server: SmtpServer, conn: sqlite3.Connection
) -> None:
    dovecot.deliver(mail(subject="Plans", sender="Bob <bob@example.org>", body="Lunch?"))
    (reply,) = replies(smtp_server, 1, gated)
    assert [r["id"] for r in inbound(conn)] == ["<m1@example.org>"]
    assert smtp_server.messages()[0].rcpt_tos == ["bob@example.org"]
    assert reply["To"] == "bob@example.org"
    assert reply["Subject"] == "Re: Plans"
    assert reply["In-Reply-To"] == "<m1@example.org>"
    assert reply["References"] == "<m1@example.org>"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["Message-ID"].endswith("@example.test>")
    assert reply.get_content().strip() == "echo: Lunch?"

    ours = reply["Message-ID"]
    dovecot.deliver(
        mail(
            subject="Re: Plans",
            sender="bob@example.org",
            msg_id="<m2@example.org>",
            In_Reply_To=ours,
            References=f"<m1@example.org> {ours}",
            body="Noon works.\n\nOn Mon, Switchboard wrote:\n> echo: Lunch?",
        )
    )
    second = replies(smtp_server, 2, gated)[1]
    assert second["Subject"] == "Re: Plans"
    assert second["In-Reply-To"] == "<m2@example.org>"
    assert second["References"].split() == ["<m1@example.org>", ours, "<m2@example.org>"]
    assert second.get_content().strip() == "echo: Noon works."
    (thread,) = threads_for_chat(conn, BOB)
    assert thread.thread_id == "<m1@example.org>"
    assert len(inbound(conn)) == 2  # each mail stored once, in the same chat


def test_automatic_mail_is_stored_but_never_answered(
    gated: GatedProcess, dovecot: Dovecot, smtp_server: SmtpServer, conn: sqlite3.Connection
) -> None:
    automatic = [
        mail(sender="bob@example.org", msg_id="<oof@x>", Auto_Submitted="auto-replied"),
        mail(sender="bob@example.org", msg_id="<bulk@x>", Precedence="bulk"),
        mail(sender="bob@example.org", msg_id="<list@x>", List_Id="<news.example.org>"),
        mail(sender=ADDRESS, msg_id="<self@x>"),
        mail(sender="MAILER-DAEMON@mx.example.org", msg_id="<bounce@x>"),
    ]
    for m in automatic:
        dovecot.deliver(m)
    wait_until(
        lambda: len(conn.execute("SELECT 1 FROM messages WHERE verb = 'ignored'").fetchall()) == 5,
        20,
        "the automatic mail stored as ignored",
    )
    # A real mail afterwards is answered, and only it.
    dovecot.deliver(mail(sender="bob@example.org", msg_id="<real@x>", body="Real question"))
    got = replies(smtp_server, 1, gated)
    wait_until(
        lambda: (
            conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending', 'failed')"
            ).fetchone()[0]
            == 0
        ),
        20,
        "the outbox to settle",
    )
    got = [r.message for r in smtp_server.messages()]
    assert [m["In-Reply-To"] for m in got] == ["<real@x>"]
    assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1  # agent saw none
    assert got[0].get_content().strip() == "echo: Real question"


def test_a_second_auto_responder_cannot_start_a_loop(
    gated: GatedProcess, dovecot: Dovecot, smtp_server: SmtpServer, conn: sqlite3.Connection
) -> None:
    # A badly behaved responder: answers every mail it gets, without Auto-Submitted.
    smtp_server.on_message = lambda msg: dovecot.deliver(
        mail(
            subject=f"Re: {msg['Subject']}",
            sender="bob@example.org",
            msg_id=f"<auto-{len(smtp_server.messages())}@example.org>",
            In_Reply_To=msg["Message-ID"],
            References=f"{msg.get('References', '')} {msg['Message-ID']}".strip(),
            body="I got your mail.",
        )
    )
    dovecot.deliver(mail(sender="bob@example.org", msg_id="<start@x>", body="start"))
    # The per-sender limit (4 an hour here) ends the ping-pong: a mail beyond it is stored
    # as ignored (rate-limit) and nothing else is queued.
    wait_until(
        lambda: conn.execute(
            "SELECT 1 FROM messages WHERE chat_jid = ? AND verb = 'ignored'", (BOB,)
        ).fetchone(),
        40,
        "the rate limit to stop the exchange",
    )
    wait_until(
        lambda: (
            conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending', 'failed')"
            ).fetchone()[0]
            == 0
        ),
        20,
        "the outbox to settle",
    )
    assert len(smtp_server.messages()) <= 4
    # The agent never even ran on the mail past the limit: nothing refused, nothing dead.
    assert conn.execute("SELECT COUNT(*) FROM outbox WHERE status = 'dead'").fetchone()[0] == 0


def test_agents_never_see_automatic_mail(
    gated: GatedProcess, dovecot: Dovecot, smtp_server: SmtpServer, conn: sqlite3.Connection
) -> None:
    dovecot.deliver(
        mail(sender="bob@example.org", msg_id="<oof2@x>", Auto_Submitted="auto-replied")
    )
    dovecot.deliver(mail(sender="bob@example.org", msg_id="<real2@x>", body="Question"))
    replies(smtp_server, 1, gated)
    wait_until(
        lambda: (
            conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending', 'failed')"
            ).fetchone()[0]
            == 0
        ),
        20,
        "the outbox to settle",
    )
    outbound = conn.execute(
        "SELECT content, reply_to_id FROM messages WHERE chat_jid = ? AND is_from_me = 1", (BOB,)
    ).fetchall()
    assert [(r["content"], r["reply_to_id"]) for r in outbound] == [("echo: Question", "<real2@x>")]
