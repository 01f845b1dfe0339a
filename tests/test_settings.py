"""Every daemon reads every setting one way: a bad value from the environment is refused as
firmly as the same value given as a flag — one line naming the variable and the value, exit 2,
no traceback, and nothing written (the database file is never created)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from daemonkit import settings
from dashd.main import build_parser as dashd_parser
from dashd.main import main as dashd_main
from gated.config import build_parser as gated_parser
from gated.main import main as gated_main
from onbod.main import build_parser as onbod_parser
from onbod.main import main as onbod_main
from timed.main import build_parser as timed_parser
from timed.main import main as timed_main

DAEMONS: dict[str, tuple[Callable[[], argparse.ArgumentParser], Callable[[list[str]], int]]] = {
    "gated": (gated_parser, gated_main),
    "timed": (timed_parser, timed_main),
    "onbod": (onbod_parser, onbod_main),
    "dashd": (dashd_parser, dashd_main),
}
# Tried in turn; each setting must refuse at least one of them.
CANDIDATES = ("SSL", "nope", "-5", "1e999", "99999999", "bad\x1bvalue", "0", "a b")
# What the email channel needs to be switched on, so its settings are all checked.
EMAIL_ON = {"SWITCHBOARD_IMAP_HOST": "127.0.0.1", "SWITCHBOARD_EMAIL_ADDRESS": "a@example.org"}


def declared(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if getattr(a, "env", None)]


def bad_value(action: argparse.Action) -> str:
    parse = action.parse
    for value in CANDIDATES:
        try:
            parse(value)
        except settings.SettingError:
            return value
    raise AssertionError(f"{action.env} accepts every candidate value")


def cases() -> list[tuple[str, str, str]]:
    found = []
    for daemon, (parser, _) in DAEMONS.items():
        for action in declared(parser()):
            found.append((daemon, action.env, bad_value(action)))
    return found


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("SWITCHBOARD_"):
            monkeypatch.delenv(name)
    db = tmp_path / "data" / "messages.db"
    monkeypatch.setenv("SWITCHBOARD_DB", str(db))
    monkeypatch.chdir(tmp_path)
    return db


def test_every_daemon_declares_its_settings() -> None:
    found = {(d, env) for d, env, _ in cases()}
    for daemon in DAEMONS:
        assert (daemon, "SWITCHBOARD_LOG_LEVEL") in found
    assert ("gated", "SWITCHBOARD_IMAP_TLS") in found
    assert ("dashd", "SWITCHBOARD_DASHD_SECURE_COOKIES") in found
    assert ("onbod", "SWITCHBOARD_ONBOARDING_POLICY") in found
    assert ("timed", "SWITCHBOARD_TIMED_BATCH") in found
    assert len(found) >= 30


@pytest.mark.parametrize(("daemon", "env", "value"), cases())
def test_a_bad_value_from_the_environment_exits_2_with_one_line(
    daemon: str,
    env: str,
    value: str,
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, good in EMAIL_ON.items():
        monkeypatch.setenv(name, good)
    monkeypatch.setenv(env, value)
    with pytest.raises(SystemExit) as exited:
        DAEMONS[daemon][1]([])
    assert exited.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{daemon}: error: {env}={value!r} is not allowed: expected")
    assert not clean_env.exists()
    assert not clean_env.parent.exists()


@pytest.mark.parametrize("daemon", list(DAEMONS))
def test_a_started_daemon_refuses_a_bad_variable_without_a_traceback(
    daemon: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    db = tmp_path / "messages.db"
    env.update(SWITCHBOARD_DB=str(db), SWITCHBOARD_LOG_LEVEL="chatty")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / daemon)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"{daemon}: error: SWITCHBOARD_LOG_LEVEL='chatty' is not allowed: "
        "expected one of DEBUG, INFO, WARNING, ERROR"
    ]
    assert not db.exists()


def test_the_same_value_as_a_flag_gets_the_same_answer(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        gated_main(["--imap-tls", "SSL", "--imap-host", "mail.example.org"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "gated: error: --imap-tls='SSL' is not allowed: expected one of ssl, starttls, plain"
    ]


@pytest.mark.parametrize("kind", ["IMAP", "SMTP"])
@pytest.mark.parametrize("value", ["SSL", "none", "Plain", "plain "])
def test_tls_is_never_turned_off_by_an_unknown_value(
    kind: str,
    value: str,
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SWITCHBOARD_IMAP_HOST", "mail.example.org")
    monkeypatch.setenv("SWITCHBOARD_EMAIL_ADDRESS", "agent@example.org")
    monkeypatch.setenv(f"SWITCHBOARD_{kind}_PORT", "1143")
    monkeypatch.setenv(f"SWITCHBOARD_{kind}_TLS", value)
    with pytest.raises(SystemExit) as exited:
        gated_main([])
    assert exited.value.code == 2
    assert f"SWITCHBOARD_{kind}_TLS={value!r} is not allowed" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["imap", "smtp"])
def test_plain_text_is_refused_for_a_remote_host(
    kind: str,
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SWITCHBOARD_IMAP_HOST", "mail.example.org")
    monkeypatch.setenv("SWITCHBOARD_EMAIL_ADDRESS", "agent@example.org")
    monkeypatch.setenv(f"SWITCHBOARD_{kind.upper()}_TLS", "plain")
    with pytest.raises(SystemExit) as exited:
        gated_main([])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"gated: error: --{kind}-tls plain is not allowed for host 'mail.example.org': use ssl "
        "or starttls (plain only for 127.0.0.1/localhost)"
    ]
    assert not clean_env.exists()


def test_plain_text_to_this_machine_is_allowed(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gated.config import load

    monkeypatch.setenv("SWITCHBOARD_IMAP_HOST", "127.0.0.1")
    monkeypatch.setenv("SWITCHBOARD_EMAIL_ADDRESS", "agent@example.org")
    monkeypatch.setenv("SWITCHBOARD_IMAP_TLS", "plain")
    monkeypatch.setenv("SWITCHBOARD_SMTP_TLS", "plain")
    cfg = load([])
    assert cfg.email is not None
    assert (cfg.email.imap_tls, cfg.email.imap_port) == ("plain", 143)
    assert (cfg.email.smtp_tls, cfg.email.smtp_port) == ("plain", 25)


def test_flag_beats_variable_beats_default(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gated.config import load

    assert load([]).max_agents == 4
    monkeypatch.setenv("SWITCHBOARD_MAX_AGENTS", "7")
    assert load([]).max_agents == 7
    assert load(["--max-agents", "9"]).max_agents == 9
    monkeypatch.setenv("SWITCHBOARD_MAX_AGENTS", "lots")
    assert load(["--max-agents", "9"]).max_agents == 9  # the variable is not even read
