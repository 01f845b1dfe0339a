"""End to end with the real gated process: mail delivered by LMTP -> stored once -> the echo
agent answers -> the SMTP server receives a threaded reply; the thread continues; automatic
mail is stored but never answered, and a second auto-responder cannot start a loop.

One dovecot, SMTP server and gated serve the module; each test talks from its own address."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
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
    make_dovecot,
    make_smtp_server,
    start_gated,
)
from gated.email.threads import threads_for_chat
from testkit import wait_for

LIMIT = 4  # replies per sender per hour in this module


@dataclass
class World:
    db: Path
    dovecot: Dovecot
    smtp: SmtpServer
    gated: GatedProcess
    conn: sqlite3.Connection


@dataclass
class Person:
    """A correspondent with a registered chat."""

    world: World
    address: str

    @property
    def jid(self) -> str:
        return f"email:{self.address}"

    def send(self, **kw: str) -> None:
        self.world.dovecot.deliver(mail(sender=self.address, **kw))

    def inbound(self) -> list[sqlite3.Row]:
        return self.world.conn.execute(
            "SELECT * FROM messages WHERE chat_jid = ? AND is_from_me = 0 ORDER BY seq",
            (self.jid,),
        ).fetchall()

    def received(self) -> list[EmailMessage]:
        return [r.message for r in self.world.smtp.messages() if r.rcpt_tos == [self.address]]

    def replies(self, n: int) -> list[EmailMessage]:
        def enough() -> bool:
            if self.world.gated.proc.poll() is not None:
                raise AssertionError(self.world.gated.log_text())
            return len(self.received()) >= n

        wait_for(enough, 30, f"{n} replies to {self.address}")
        return self.received()

    def settled(self) -> None:
        """Wait until nothing for this chat is waiting in the outbox."""
        wait_for(
            lambda: (
                self.world.conn.execute(
                    "SELECT COUNT(*) FROM outbox o JOIN messages m ON m.seq = o.seq "
                    "WHERE m.chat_jid = ? AND o.status IN ('pending', 'sending', 'failed')",
                    (self.jid,),
                ).fetchone()[0]
                == 0
            ),
            20,
            f"the outbox of {self.jid} to settle",
        )

    def outbox(self) -> list[sqlite3.Row]:
        return self.world.conn.execute(
            "SELECT m.content, m.reply_to_id, o.status FROM outbox o JOIN messages m "
            "ON m.seq = o.seq WHERE m.chat_jid = ? ORDER BY o.seq",
            (self.jid,),
        ).fetchall()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("email-e2e")
    db = tmp / "messages.db"
    store.open(db).close()
    dovecots = make_dovecot(tmp)
    smtps = make_smtp_server()
    dovecot, smtp = next(dovecots), next(smtps)
    gated = start_gated(
        db, email_env(db, dovecot, smtp, SWITCHBOARD_EMAIL_REPLIES_PER_HOUR=str(LIMIT))
    )
    conn = store.connect(db)
    try:
        yield World(db, dovecot, smtp, gated, conn)
    finally:
        conn.close()
        code = gated.stop()
        for gen in (smtps, dovecots):
            next(gen, None)
        assert code == 0, gated.log_text()


@pytest.fixture
def person(world: World, request: pytest.FixtureRequest) -> Person:
    name = request.node.name.removeprefix("test_")[:40].replace("_", "-")
    address = f"{name}@example.org"
    store.register_group(world.conn, f"email:{address}", name)
    return Person(world, address)


def test_mail_is_answered_in_thread_and_the_thread_continues(person: Person) -> None:
    person.send(subject="Plans", msg_id="<m1@example.org>", body="Lunch?")
    (reply,) = person.replies(1)
    assert [r["id"] for r in person.inbound()] == ["<m1@example.org>"]
    assert reply["To"] == person.address
    assert reply["From"].addresses[0].addr_spec == ADDRESS
    assert reply["Subject"] == "Re: Plans"
    assert reply["In-Reply-To"] == "<m1@example.org>"
    assert reply["References"] == "<m1@example.org>"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["Message-ID"].endswith("@example.test>")
    assert reply.get_content().strip() == "echo: Lunch?"

    ours = reply["Message-ID"]
    person.send(
        subject="Re: Plans",
        msg_id="<m2@example.org>",
        In_Reply_To=ours,
        References=f"<m1@example.org> {ours}",
        body="Noon works.\n\nOn Mon, Switchboard wrote:\n> echo: Lunch?",
    )
    second = person.replies(2)[1]
    assert second["Subject"] == "Re: Plans"
    assert second["In-Reply-To"] == "<m2@example.org>"
    assert second["References"].split() == ["<m1@example.org>", ours, "<m2@example.org>"]
    assert second.get_content().strip() == "echo: Noon works."
    (thread,) = threads_for_chat(person.world.conn, person.jid)
    assert thread.thread_id == "<m1@example.org>"
    assert len(person.inbound()) == 2  # each mail stored once, in the same chat


def test_automatic_mail_is_stored_but_never_answered(person: Person) -> None:
    world = person.world
    for i, headers in enumerate(
        [
            {"Auto_Submitted": "auto-replied"},
            {"Precedence": "bulk"},
            {"List_Id": "<news.example.org>"},
            {"X_Autoreply": "yes"},
        ]
    ):
        person.send(msg_id=f"<auto{i}@x>", **headers)
    world.dovecot.deliver(mail(sender=ADDRESS, msg_id="<self@x>"))
    world.dovecot.deliver(mail(sender="MAILER-DAEMON@mx.example.org", msg_id="<bounce@x>"))
    ids = ["<auto0@x>", "<auto1@x>", "<auto2@x>", "<auto3@x>", "<self@x>", "<bounce@x>"]
    query = f"SELECT verb FROM messages WHERE id IN ({','.join('?' * len(ids))})"
    wait_for(
        lambda: [r[0] for r in world.conn.execute(query, ids)] == ["ignored"] * len(ids),
        20,
        "the automatic mail stored as ignored",
    )
    # A real mail afterwards is answered, and only it: the agent never saw the others.
    person.send(msg_id="<real@x>", body="Real question")
    person.replies(1)
    person.settled()
    assert [m["In-Reply-To"] for m in person.received()] == ["<real@x>"]
    assert [(r["content"], r["reply_to_id"], r["status"]) for r in person.outbox()] == [
        ("echo: Real question", "<real@x>", "sent")
    ]


def test_a_second_auto_responder_cannot_start_a_loop(person: Person) -> None:
    world = person.world
    count = iter(range(1, 1000))

    def respond(msg: EmailMessage) -> None:
        """A badly behaved responder: answers every mail it gets, without Auto-Submitted."""
        if msg["To"] != person.address:
            return
        person.send(
            subject=f"Re: {msg['Subject']}",
            msg_id=f"<auto-{next(count)}@example.org>",
            In_Reply_To=msg["Message-ID"],
            References=f"{msg.get('References', '')} {msg['Message-ID']}".strip(),
            body="I got your mail.",
        )

    world.smtp.on_message = respond
    try:
        person.send(msg_id="<start@x>", body="start")
        # The per-sender limit ends the ping-pong: a mail beyond it is stored as ignored
        # (rate-limit), the agent never sees it, nothing else is queued.
        wait_for(
            lambda: any(r["verb"] == "ignored" for r in person.inbound()),
            40,
            "the rate limit to stop the exchange",
        )
        person.settled()
    finally:
        world.smtp.on_message = None
    assert len(person.received()) == LIMIT
    assert [r["status"] for r in person.outbox()] == ["sent"] * LIMIT
