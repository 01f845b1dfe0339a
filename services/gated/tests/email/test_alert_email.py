"""--alert-email with the real email channel: a watched daemon that goes silent is alerted by
mail to that address (through the SMTP server, once), beside the operator chats; and the flag
is refused without the email channel or with something that is not an address."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import store
from email_testkit import email_env, make_dovecot, make_smtp_server, start_gated
from testkit import wait_for

ALERTS_TO = "oncall@example.org"


def test_a_silent_daemon_is_mailed_to_the_alert_address(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    conn = store.open(db)
    store.register_group(conn, "web:ops", "ops", is_operator=True)
    store.heartbeat(conn, "timed")  # a "timed" that never beats again
    dovecots, smtps = make_dovecot(tmp_path), make_smtp_server()
    dovecot, smtp = next(dovecots), next(smtps)
    env = email_env(
        db, dovecot, smtp, SWITCHBOARD_ALERT_EMAIL=ALERTS_TO, SWITCHBOARD_ALERT_STALE_S="10"
    )
    gated = start_gated(db, env)
    try:
        wait_for(lambda: [m for m in smtp.messages() if m.rcpt_tos == [ALERTS_TO]], 40, "mail")
        [mail] = [m.message for m in smtp.messages() if m.rcpt_tos == [ALERTS_TO]]
        assert mail.get_content().startswith("ALERT: timed has not been heard from for ")
        chat = conn.execute(
            "SELECT content FROM messages WHERE chat_jid = 'web:ops' AND source = 'alert'"
        ).fetchall()
        assert [r[0] for r in chat] == [mail.get_content().strip()]
        time.sleep(5)  # more checks: still one
        assert len([m for m in smtp.messages() if m.rcpt_tos == [ALERTS_TO]]) == 1
    finally:
        conn.close()
        code = gated.stop()
        for gen in (smtps, dovecots):
            next(gen, None)
    assert code == 0, gated.log_text()


@pytest.mark.parametrize(
    ("value", "with_email", "said"),
    [
        ("oncall@example.org", False, "--alert-email needs the email channel"),
        ("not an address", True, "--alert-email: 'not an address' is not an address"),
    ],
)
def test_the_flag_is_checked(tmp_path: Path, value: str, with_email: bool, said: str) -> None:
    argv = [sys.executable, "-m", "gated.main", "--db", str(tmp_path / "x.db")]
    argv += ["--alert-email", value, "--listen", "127.0.0.1:0"]
    if with_email:
        argv += ["--imap-host", "127.0.0.1", "--email-address", "bot@example.test"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert said in proc.stderr
