"""`check_login` and `switchboard doctor`: logging in to the real IMAP and SMTP servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from email_testkit import Dovecot, SmtpServer, email_config, email_env, free_port
from gated.email.check import check_login

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")


def test_check_login_ok_and_each_failure_named(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    db = tmp_path / "messages.db"
    assert check_login(email_config(db, dovecot, smtp_server)) == []
    bad = check_login(email_config(db, dovecot, smtp_server, "--imap-password", "wrong"))
    assert len(bad) == 1
    assert bad[0].startswith("imap login failed")
    assert "user=agent@example.test" in bad[0]
    down = check_login(email_config(db, dovecot, SmtpServer(free_port())))
    assert len(down) == 1
    assert down[0].startswith("smtp login failed")


def test_plain_text_refused_for_a_remote_host(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # Refused when the settings are read, before any connection is tried.
    with pytest.raises(SystemExit) as exited:
        email_config(
            tmp_path / "db", Dovecot(tmp_path, 1, 1), smtp_server, "--imap-host", "mail.example.org"
        )
    assert exited.value.code == 2
    assert "--imap-tls plain is not allowed for host 'mail.example.org'" in capsys.readouterr().err


def test_switchboard_doctor_checks_the_email_logins(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    db = tmp_path / "messages.db"
    subprocess.run([SWITCHBOARD, "init", "--db", str(db)], check=True, capture_output=True)
    env = email_env(db, dovecot, smtp_server)
    ok = subprocess.run(
        [SWITCHBOARD, "doctor", "--db", str(db)], env=env, capture_output=True, text=True
    )
    assert "email login" in ok.stdout
    assert "ok (imap, smtp)" in ok.stdout, ok.stdout + ok.stderr
    env["SWITCHBOARD_IMAP_PASSWORD"] = "wrong"
    bad = subprocess.run(
        [SWITCHBOARD, "doctor", "--db", str(db)], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "PROBLEM: imap login failed" in bad.stdout
