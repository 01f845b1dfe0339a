"""Outbound replies through a real SMTP server (aiosmtpd): threading headers, thread
continuation, refusals that must not be retried and failures that must be."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import store
from email_testkit import ADDRESS, Dovecot, SmtpServer, email_config, free_port, mail
from gated.email.ingest import ingest_mail
from gated.email.parse import parse_mail
from gated.email.smtp import SmtpSender
from gated.email.threads import threads_for_chat
from gated.errors import DeliveryError
from gated.migrations import MIGRATIONS
from store import blobs

BOB = "email:bob@example.org"
NO_IMAP = Dovecot(Path("/nonexistent"), 1, 1)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = store.open(tmp_path / "messages.db")
    store.migrate_service(c, "gated", MIGRATIONS)
    yield c
    c.close()


def db_path(conn: sqlite3.Connection) -> Path:
    return Path(conn.execute("PRAGMA database_list").fetchone()["file"])


def receive(conn: sqlite3.Connection, cfg: Any, raw: bytes) -> str:
    m = parse_mail(raw)
    ingest_mail(conn, cfg.email, m, now=store.utcnow())
    return m.message_id


def answer(conn: sqlite3.Connection, cfg: Any, reply_to: str | None, text: str) -> str | None:
    """What the delivery worker does: store, claim, send, mark sent."""
    seq = store.store_outbound(conn, BOB, text, reply_to_id=reply_to)
    (item,) = [i for i in store.claim_outbound(conn, "test") if i.seq == seq]
    remote = SmtpSender(cfg).send(item)
    store.mark_sent(conn, seq, remote)
    return remote


def test_reply_goes_to_the_sender_in_the_same_thread(
    conn: sqlite3.Connection, smtp_server: SmtpServer
) -> None:
    cfg = email_config(db_path(conn), NO_IMAP, smtp_server)
    first = receive(conn, cfg, mail(subject="Plan", sender="Bob <Bob@Example.org>").as_bytes())
    our_id = answer(conn, cfg, first, "Here is the plan.")
    (got,) = smtp_server.messages()
    msg = got.message
    assert got.rcpt_tos == ["bob@example.org"]
    assert msg["To"] == "bob@example.org"
    assert msg["From"].addresses[0].addr_spec == ADDRESS
    assert msg["Subject"] == "Re: Plan"
    assert msg["In-Reply-To"] == first
    assert msg["References"] == first
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Message-ID"] == our_id
    assert our_id.endswith("@example.test>")
    assert msg.get_content().strip() == "Here is the plan."

    # Bob answers our reply: same thread, same chat; our next reply's references grow.
    second = receive(
        conn,
        cfg,
        mail(
            subject="Re: Plan",
            sender="bob@example.org",
            msg_id="<m2@example.org>",
            In_Reply_To=our_id,
            References=f"{first} {our_id}",
            body="Thanks!\n\nOn Mon, Agent wrote:\n> Here is the plan.",
        ).as_bytes(),
    )
    row = conn.execute("SELECT content FROM messages WHERE id = ?", (second,)).fetchone()
    assert row["content"] == "Thanks!"
    answer(conn, cfg, second, "You're welcome.")
    reply2 = smtp_server.messages()[1].message
    assert reply2["Subject"] == "Re: Plan"
    assert reply2["In-Reply-To"] == second
    assert reply2["References"].split() == [first, our_id, second]
    (thread,) = threads_for_chat(conn, BOB)
    assert thread.thread_id == first
    assert thread.last_message_id == reply2["Message-ID"]
    assert list(thread.references) == [first, our_id, second, reply2["Message-ID"]]


def test_message_answering_nothing_continues_the_latest_thread(
    conn: sqlite3.Connection, smtp_server: SmtpServer
) -> None:
    cfg = email_config(db_path(conn), NO_IMAP, smtp_server)
    first = receive(conn, cfg, mail(subject="Status", sender="bob@example.org").as_bytes())
    answer(conn, cfg, None, "A spontaneous update")
    msg = smtp_server.messages()[0].message
    assert msg["Subject"] == "Re: Status"
    assert msg["In-Reply-To"] == first


def test_ignored_mail_and_own_address_are_refused_permanently(
    conn: sqlite3.Connection, smtp_server: SmtpServer
) -> None:
    cfg = email_config(db_path(conn), NO_IMAP, smtp_server)
    auto = receive(
        conn,
        cfg,
        mail(sender="bob@example.org", Auto_Submitted="auto-replied", msg_id="<oof@x>").as_bytes(),
    )
    with pytest.raises(DeliveryError) as err:
        answer(conn, cfg, auto, "never")
    assert err.value.permanent
    # A chat that only ever sent automatic mail is never written to, whatever answers it.
    with pytest.raises(DeliveryError) as err_auto:
        answer(conn, cfg, None, "a greeting")
    assert err_auto.value.permanent
    seq = store.store_outbound(conn, f"email:{ADDRESS}", "to myself")
    (item,) = [i for i in store.claim_outbound(conn, "t") if i.seq == seq]
    with pytest.raises(DeliveryError) as err2:
        SmtpSender(cfg).send(item)
    assert err2.value.permanent
    assert smtp_server.messages() == []


def test_replies_per_hour_limit(conn: sqlite3.Connection, smtp_server: SmtpServer) -> None:
    cfg = email_config(db_path(conn), NO_IMAP, smtp_server, "--email-replies-per-hour", "2")
    first = receive(conn, cfg, mail(sender="bob@example.org").as_bytes())
    answer(conn, cfg, first, "one")
    answer(conn, cfg, first, "two")
    with pytest.raises(DeliveryError, match="rate limit") as err:
        answer(conn, cfg, first, "three")
    assert err.value.permanent
    assert len(smtp_server.messages()) == 2


def test_5xx_is_permanent_and_unreachable_server_is_retryable(
    conn: sqlite3.Connection, smtp_server: SmtpServer
) -> None:
    cfg = email_config(db_path(conn), NO_IMAP, smtp_server)
    first = receive(conn, cfg, mail(sender="bob@example.org").as_bytes())
    smtp_server.reject_code = 554
    with pytest.raises(DeliveryError) as err:
        answer(conn, cfg, first, "rejected")
    assert err.value.permanent
    assert "554" in err.value.reason
    smtp_server.reject_code = 451
    with pytest.raises(DeliveryError) as err:
        answer(conn, cfg, first, "try later")
    assert not err.value.permanent
    down = SmtpServer(free_port())
    cfg_down = email_config(db_path(conn), NO_IMAP, down)
    with pytest.raises(DeliveryError) as err:
        answer(conn, cfg_down, first, "nobody listening")
    assert not err.value.permanent


def test_a_stored_file_goes_as_a_mime_part(
    conn: sqlite3.Connection, smtp_server: SmtpServer
) -> None:
    cfg = email_config(db_path(conn), NO_IMAP, smtp_server)
    first = receive(conn, cfg, mail(subject="Report", sender="bob@example.org").as_bytes())
    sha, size = blobs.put_blob(conn, io.BytesIO(b"col1,col2\n1,2\n"))
    seq = store.store_outbound(
        conn,
        BOB,
        "Here it is.",
        reply_to_id=first,
        attachments=[blobs.file_entry("report.csv", "text/csv", size, sha)],
    )
    (item,) = [i for i in store.claim_outbound(conn, "test") if i.seq == seq]
    SmtpSender(cfg).send(item)
    (got,) = smtp_server.messages()
    parts = list(got.message.iter_attachments())
    assert [(p.get_filename(), p.get_content_type()) for p in parts] == [("report.csv", "text/csv")]
    assert parts[0].get_payload(decode=True) == b"col1,col2\n1,2\n"
    assert got.message.get_body(("plain",)).get_content().strip() == "Here it is."


def test_a_file_gone_from_the_store_is_a_permanent_failure(
    conn: sqlite3.Connection, smtp_server: SmtpServer
) -> None:
    cfg = email_config(db_path(conn), NO_IMAP, smtp_server)
    receive(conn, cfg, mail(subject="Report", sender="bob@example.org").as_bytes())
    sha, size = blobs.put_blob(conn, io.BytesIO(b"x"))
    blobs.blob_path(conn, sha).unlink()
    entry = blobs.file_entry("x.bin", "application/octet-stream", size, sha)
    seq = store.store_outbound(conn, BOB, "x", attachments=[entry])
    (item,) = [i for i in store.claim_outbound(conn, "test") if i.seq == seq]
    with pytest.raises(DeliveryError) as err:
        SmtpSender(cfg).send(item)
    assert err.value.permanent
    assert "is gone" in err.value.reason
    assert smtp_server.messages() == []
