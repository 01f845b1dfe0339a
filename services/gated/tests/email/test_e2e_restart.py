"""End to end: gated restarted while mail is coming in, and the IMAP server renumbering the
mailbox (new UIDVALIDITY) while gated is down -> every mail answered exactly once."""

from __future__ import annotations

from pathlib import Path

import store
from email_testkit import Dovecot, SmtpServer, email_env, mail, start_gated
from testkit import wait_for

BOB = "email:bob@example.org"


def test_restart_mid_stream_and_uidvalidity_change_answer_every_mail_once(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    db = tmp_path / "messages.db"
    conn = store.open(db)
    store.register_group(conn, BOB, "bob")
    env = email_env(db, dovecot, smtp_server)

    def send(i: int) -> None:
        dovecot.deliver(mail(sender="bob@example.org", msg_id=f"<s{i}@x>", body=f"body {i}"))

    def answers() -> list[str]:
        return sorted(m.message.get_content().strip() for m in smtp_server.messages())

    first = start_gated(db, env)
    for i in range(4):
        send(i)
    wait_for(lambda: answers(), 30, "a first answer")
    assert first.stop() == 0, first.log_text()  # restarted while mail is still coming in
    for i in range(4, 6):
        send(i)
    dovecot.stop()
    dovecot.reset_uidvalidity()
    dovecot.start()
    send(6)
    second = start_gated(db, env)
    expected = [f"echo: body {i}" for i in range(7)]
    try:
        wait_for(lambda: set(answers()) >= set(expected), 30, "an answer to every mail")
        wait_for(
            lambda: (
                conn.execute(
                    "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending', 'failed')"
                ).fetchone()[0]
                == 0
            ),
            20,
            "the outbox to settle",
        )
    finally:
        assert second.stop() == 0, second.log_text()
    assert answers() == expected  # each exactly once
    ids = [r[0] for r in conn.execute("SELECT id FROM messages WHERE is_from_me = 0")]
    assert sorted(ids) == [f"<s{i}@x>" for i in range(7)]
    conn.close()
