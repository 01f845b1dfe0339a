"""Fixtures for the email channel tests: `dovecot` (a real IMAP + LMTP server) and
`smtp_server` (a real aiosmtpd recording what it receives). Helpers live in email_testkit.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from email_testkit import Dovecot, SmtpServer, make_dovecot, make_smtp_server


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[Dovecot]:
    yield from make_dovecot(tmp_path)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    yield from make_smtp_server()
