"""TLS (STARTTLS and implicit SSL, certificates verified) against real dovecot and aiosmtpd with
SMTP AUTH, and the polling fallback for an IMAP server without IDLE."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import store
from aiosmtpd.smtp import AuthResult, LoginPassword
from email_testkit import (
    Dovecot,
    SmtpServer,
    email_config,
    mail,
    make_dovecot,
    make_smtp_server,
)
from gated.email.check import check_login
from gated.email.ingest import ingest_mail
from gated.email.parse import parse_mail
from gated.email.service import EmailChannel
from gated.email.smtp import SmtpSender
from gated.migrations import MIGRATIONS
from testkit import wait_for

SMTP_USER, SMTP_PASSWORD = "relay-user", "relay-secret"


@pytest.fixture
def cert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, trusted through SSL_CERT_FILE."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make a test certificate)")
    crt, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(crt), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(crt))
    return crt, key


@pytest.fixture
def tls_dovecot(tmp_path: Path, cert: tuple[Path, Path]) -> Iterator[Dovecot]:
    crt, key = cert
    extra = f"""
ssl = required
ssl_cert = <{crt}
ssl_key = <{key}
service imap-login {{
  inet_listener imaps {{
    address = 127.0.0.1
    port = @IMAPS_PORT@
  }}
}}
"""
    yield from make_dovecot(tmp_path, extra)


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


def _server_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


@pytest.fixture
def starttls_smtp(cert: tuple[Path, Path]) -> Iterator[SmtpServer]:
    yield from make_smtp_server(
        tls_context=_server_context(cert),
        require_starttls=True,
        authenticator=_auth,
        auth_require_tls=True,
    )


@pytest.fixture
def ssl_smtp(cert: tuple[Path, Path]) -> Iterator[SmtpServer]:
    yield from make_smtp_server(
        ssl_context=_server_context(cert), authenticator=_auth, auth_require_tls=False
    )


def tls_args(imap_tls: str, imap_port: int, smtp_tls: str) -> list[str]:
    return [
        "--imap-tls", imap_tls, "--imap-port", str(imap_port), "--smtp-tls", smtp_tls,
        "--smtp-user", SMTP_USER, "--smtp-password", SMTP_PASSWORD,
    ]  # fmt: skip


def test_starttls_logins_and_a_reply_over_starttls_with_auth(
    tmp_path: Path, tls_dovecot: Dovecot, starttls_smtp: SmtpServer
) -> None:
    db = tmp_path / "messages.db"
    cfg = email_config(
        db,
        tls_dovecot,
        starttls_smtp,
        *tls_args("starttls", tls_dovecot.imap_port, "starttls"),
    )
    assert check_login(cfg) == []
    conn = store.open(db)
    store.migrate_service(conn, "gated", MIGRATIONS)
    first = parse_mail(mail(sender="bob@example.org").as_bytes())
    ingest_mail(conn, cfg.email, first, now=store.utcnow())
    seq = store.store_outbound(
        conn, "email:bob@example.org", "over TLS", reply_to_id="<m1@example.org>"
    )
    (item,) = [i for i in store.claim_outbound(conn, "t") if i.seq == seq]
    SmtpSender(cfg).send(item)
    (got,) = starttls_smtp.messages()
    assert got.message["In-Reply-To"] == "<m1@example.org>"
    bad = email_config(
        db, tls_dovecot, starttls_smtp, *tls_args("starttls", tls_dovecot.imap_port, "starttls"),
        "--smtp-password", "wrong",
    )  # fmt: skip
    (problem,) = check_login(bad)
    assert problem.startswith("smtp login failed")
    assert "535" in problem


def test_implicit_ssl_logins_and_inbound_over_ssl(
    tmp_path: Path, tls_dovecot: Dovecot, ssl_smtp: SmtpServer
) -> None:
    db = tmp_path / "messages.db"
    cfg = email_config(db, tls_dovecot, ssl_smtp, *tls_args("ssl", tls_dovecot.imaps_port, "ssl"))
    assert check_login(cfg) == []
    store.open(db, {"gated": MIGRATIONS}).close()  # what gated's start-up does
    channel = EmailChannel(cfg)
    stop = threading.Event()
    thread = threading.Thread(target=channel.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: channel.status().get("connected"), 10, "an imaps connection")
        tls_dovecot.deliver(mail(msg_id="<ssl@x>"))
        wait_for(lambda: channel.status().get("stored") == 1, 10, "the mail stored")
    finally:
        stop.set()
        thread.join(10)


def test_certificates_are_verified(
    tmp_path: Path, tls_dovecot: Dovecot, ssl_smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    cfg = email_config(
        tmp_path / "db", tls_dovecot, ssl_smtp, *tls_args("ssl", tls_dovecot.imaps_port, "ssl")
    )
    problems = check_login(cfg)
    assert len(problems) == 2
    assert all("CERTIFICATE_VERIFY_FAILED" in p for p in problems)


NO_IDLE = "\nimap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE UIDPLUS\n"


def test_server_without_idle_is_polled(tmp_path: Path, smtp_server: SmtpServer) -> None:
    dovecots = make_dovecot(tmp_path, NO_IDLE)
    dovecot = next(dovecots)
    try:
        cfg = email_config(tmp_path / "messages.db", dovecot, smtp_server, "--email-poll", "0.2")
        store.open(tmp_path / "messages.db", {"gated": MIGRATIONS}).close()
        channel = EmailChannel(cfg)
        stop = threading.Event()
        thread = threading.Thread(target=channel.run, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_for(lambda: channel.status().get("connected"), 10, "a connection")
            assert channel.status()["idle"] is False
            dovecot.deliver(mail(msg_id="<poll@x>"))
            wait_for(lambda: channel.status().get("stored") == 1, 10, "the polled mail stored")
        finally:
            stop.set()
            thread.join(10)
    finally:
        next(dovecots, None)
