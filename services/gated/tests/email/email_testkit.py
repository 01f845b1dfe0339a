"""Helpers for the email channel tests: a throw-away dovecot (IMAP + LMTP) from
`dovecot-test.conf.in`, an aiosmtpd server that records what it gets, configs, test mail."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from testkit import wait_for

HERE = Path(__file__).parent
ADDRESS = "agent@example.test"
PASSWORD = "secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Dovecot:
    dir: Path
    imap_port: int
    lmtp_port: int
    imaps_port: int = field(default_factory=free_port)
    user: str = ADDRESS
    password: str = PASSWORD

    @property
    def conf(self) -> Path:
        return self.dir / "dovecot.conf"

    def start(self) -> None:
        subprocess.run(["dovecot", "-c", str(self.conf)], check=True, timeout=30)
        wait_for(lambda: port_open(self.imap_port), 10, "dovecot imap port")
        wait_for(lambda: port_open(self.lmtp_port), 10, "dovecot lmtp port")

    def stop(self) -> None:
        """Stop the server including its client processes (dovecot leaves those running,
        which would keep an IDLE connection alive; a real outage closes it)."""
        pid_file = self.dir / "run" / "master.pid"
        if not pid_file.exists():
            return
        master = int(pid_file.read_text())
        children = _descendants(master)
        with contextlib.suppress(ProcessLookupError):
            os.kill(master, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(master), 10, "dovecot master to exit")
        wait_for(lambda: not port_open(self.imap_port), 10, "dovecot to stop")
        pid_file.unlink(missing_ok=True)

    def deliver(self, msg: EmailMessage | bytes, rcpt: str = ADDRESS, sender: str = "") -> None:
        """Deliver as an MTA would (LMTP)."""
        import smtplib

        with smtplib.LMTP("127.0.0.1", self.lmtp_port) as lmtp:
            if isinstance(msg, bytes):
                lmtp.sendmail(sender or "someone@example.org", [rcpt], msg)
            else:
                lmtp.send_message(msg, from_addr=sender or None, to_addrs=[rcpt])

    def maildir(self) -> Path:
        return self.dir / "mail" / self.user

    def reset_uidvalidity(self) -> None:
        """Make dovecot assign a new UIDVALIDITY (the server must be stopped)."""
        for name in ("dovecot-uidlist", "dovecot-uidvalidity"):
            for p in self.maildir().glob(f"{name}*"):
                p.unlink()
        for p in self.maildir().glob("dovecot.index*"):
            p.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _descendants(root: int) -> list[int]:
    """PIDs of every process below `root` (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, ppid in parents.items() if ppid == parent]
        found += kids
        frontier += kids
    return found


def dovecot_missing() -> str | None:
    if shutil.which("dovecot") is None:
        return "dovecot is not installed (apt-get install dovecot-imapd dovecot-lmtpd)"
    if not Path("/usr/lib/dovecot/lmtp").exists():
        return "dovecot-lmtpd is not installed (apt-get install dovecot-lmtpd)"
    return None


def make_dovecot(tmp_path: Path, extra_conf: str = "") -> Iterator[Dovecot]:
    """A started dovecot; `extra_conf` is appended to the config (`@DIR@`, `@IMAPS_PORT@`)."""
    reason = dovecot_missing()
    if reason:
        pytest.skip(reason)
    # dovecot's unprivileged processes must reach the mail and the passwd file, but pytest keeps
    # its temp root at mode 0700 (and concurrent pytest runs reset it), so the server's files
    # live in their own world-traversable temp dir, removed afterwards; tmp_path gets a link.
    base = Path(tempfile.mkdtemp(prefix="sb-dovecot-"))
    base.chmod(0o755)
    (tmp_path / "dovecot").symlink_to(base)
    for sub in ("run", "state", "mail"):
        (base / sub).mkdir()
    server = Dovecot(base, free_port(), free_port())
    text = (HERE / "dovecot-test.conf.in").read_text() + extra_conf
    text = text.replace("@IMAPS_PORT@", str(server.imaps_port))
    text = text.replace("@DIR@", str(base)).replace("@IMAP_PORT@", str(server.imap_port))
    server.conf.write_text(text.replace("@LMTP_PORT@", str(server.lmtp_port)))
    (base / "users").write_text(f"{ADDRESS}:{{PLAIN}}{PASSWORD}\n")
    subprocess.run(["chown", "-R", "nobody:nogroup", str(base / "mail")], check=True)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpServer:
    port: int
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    reject_code: int | None = None  # answer DATA with this code instead of accepting
    on_message: Any = None  # called with each received message (a stand-in correspondent)

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)


class _Recorder:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp_server: Any, session: Any, envelope: Any) -> str:
        if self.server.reject_code is not None:
            return f"{self.server.reject_code} rejected for the test"
        msg = BytesParser(policy=policy.default).parsebytes(envelope.content)
        assert isinstance(msg, EmailMessage)
        with self.server.lock:
            self.server.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg))
        if self.server.on_message is not None:
            threading.Thread(target=self.server.on_message, args=(msg,), daemon=True).start()
        return "250 OK"


def make_smtp_server(**controller_options: Any) -> Iterator[SmtpServer]:
    """A started aiosmtpd; options go to its Controller (tls_context, authenticator, ...)."""
    server = SmtpServer(free_port())
    controller = Controller(
        _Recorder(server), hostname="127.0.0.1", port=server.port, **controller_options
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


def email_env(db: Path, dovecot: Dovecot, smtp: SmtpServer, **extra: str) -> dict[str, str]:
    """Environment that enables gated's email channel against the test servers."""
    env = {
        **os.environ,
        "SWITCHBOARD_DB": str(db),
        "SWITCHBOARD_EMAIL_ADDRESS": ADDRESS,
        "SWITCHBOARD_IMAP_HOST": "127.0.0.1",
        "SWITCHBOARD_IMAP_PORT": str(dovecot.imap_port),
        "SWITCHBOARD_IMAP_USER": dovecot.user,
        "SWITCHBOARD_IMAP_PASSWORD": dovecot.password,
        "SWITCHBOARD_IMAP_TLS": "plain",
        "SWITCHBOARD_SMTP_HOST": "127.0.0.1",
        "SWITCHBOARD_SMTP_PORT": str(smtp.port),
        "SWITCHBOARD_SMTP_TLS": "plain",
        "SWITCHBOARD_EMAIL_POLL": "2",
    }
    env.update(extra)
    return env


def email_config(db: Path, dovecot: Dovecot, smtp: SmtpServer, *more: str) -> Any:
    """A Config (parsed from flags, like the daemon does) with the email channel on."""
    from gated.config import load

    args = [
        "--db", str(db),
        "--email-address", ADDRESS,
        "--imap-host", "127.0.0.1",
        "--imap-port", str(dovecot.imap_port),
        "--imap-user", dovecot.user,
        "--imap-password", dovecot.password,
        "--imap-tls", "plain",
        "--smtp-host", "127.0.0.1",
        "--smtp-port", str(smtp.port),
        "--smtp-tls", "plain",
        "--email-poll", "2",
        *more,
    ]  # fmt: skip
    return load(args)


def mail(
    subject: str = "Hello",
    body: str = "Hi agent",
    sender: str = "Alice <alice@example.org>",
    msg_id: str | None = "<m1@example.org>",
    **headers: str,
) -> EmailMessage:
    """A plain mail to the agent; extra headers as keyword arguments (Auto_Submitted=...)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ADDRESS
    msg["Subject"] = subject
    if msg_id:
        msg["Message-ID"] = msg_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


@dataclass
class GatedProcess:
    """A real `python -m gated.main` with the email channel enabled."""

    db: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"gated did not stop on SIGTERM:\n{self.log_text()}") from None


def start_gated(db: Path, env: dict[str, str]) -> GatedProcess:
    """Start gated on db and wait until its email channel reports a connection."""
    import sqlite3
    import sys

    import store

    log = db.parent / f"gated-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gated.main", "--listen", "127.0.0.1:0", "--log-level", "DEBUG"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**env, "SWITCHBOARD_CHANNEL_SECRET": "email-test-secret"},
        )
    gated = GatedProcess(db, proc, log)
    conn = store.connect(db)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"gated exited with {proc.returncode}:\n{gated.log_text()}")
        try:
            row = conn.execute("SELECT pid FROM daemons WHERE name = 'gated'").fetchone()
        except sqlite3.OperationalError:
            return False
        return row is not None and row[0] == proc.pid and "imap connected" in gated.log_text()

    try:
        wait_for(ready, 30, "gated heartbeat and imap connection")
    finally:
        conn.close()
    return gated
