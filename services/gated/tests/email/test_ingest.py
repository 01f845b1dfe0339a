"""Storing parsed mail: any mail, however odd or large, is stored once and never rejected by the
store's validators."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import store
from email_testkit import Dovecot, SmtpServer, email_config, mail
from gated.email.ingest import find_meta, ingest_mail
from gated.email.parse import parse_mail
from gated.migrations import MIGRATIONS
from hypothesis import given, settings
from hypothesis import strategies as st

NO_SERVERS = (Dovecot(Path("/nonexistent"), 1, 1), SmtpServer(1))


@pytest.fixture(scope="module")
def conn() -> Iterator[sqlite3.Connection]:
    with tempfile.TemporaryDirectory() as tmp:
        c = store.open(Path(tmp) / "messages.db")
        store.migrate_service(c, "gated", MIGRATIONS)
        yield c
        c.close()


def ingest(conn: sqlite3.Connection, raw: bytes) -> tuple[int, bool]:
    cfg = email_config(Path("unused.db"), *NO_SERVERS, "--email-replies-per-hour", "100000")
    result = ingest_mail(conn, cfg.email, parse_mail(raw), now=store.utcnow())
    return result.seq, result.duplicate


HEADERS = st.sampled_from(
    ["From", "Subject", "Message-ID", "References", "In-Reply-To", "Content-Type", "Date"]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(HEADERS, st.binary(max_size=120)), max_size=8), st.binary(max_size=800))
def test_any_mail_is_stored_once(
    conn: sqlite3.Connection, headers: list[tuple[str, bytes]], body: bytes
) -> None:
    raw = b"".join(n.encode() + b": " + v.replace(b"\n", b" ") + b"\r\n" for n, v in headers)
    raw += b"\r\n" + body
    seq, _ = ingest(conn, raw)
    again, duplicate = ingest(conn, raw)
    assert duplicate
    assert again == seq


def test_huge_mail_with_many_references_is_stored_trimmed(conn: sqlite3.Connection) -> None:
    refs = " ".join(f"<{'r' * 200}{i}@example.org>" for i in range(2000))
    msg: EmailMessage = mail(msg_id="<huge@x>", References=refs, body="😀" * 150_000)
    seq, duplicate = ingest(conn, msg.as_bytes())
    assert not duplicate
    stored = store.get_message(conn, seq)
    assert stored is not None
    assert len(stored.content.encode()) < 200_000
    meta = find_meta(stored.attachments)
    assert meta is not None
    assert meta["thread_id"] == f"<{'r' * 200}0@example.org>"  # the root survives trimming
