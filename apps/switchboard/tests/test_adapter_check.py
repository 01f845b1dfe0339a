"""`switchboard-adapter-check` against real adapter processes: the example adapter passes every
rule; a protocol 1.0 one passes the rules of 1.0, the 1.1-only rows n/a; a deliberately broken
one fails exactly the rules it breaks; bad arguments, and a port already in use, are one line
and exit 2."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from switchboard.adaptercheck.main import main
from switchboard.adaptercheck.rules import RULES
from testkit.adapter_check import AdapterCheck, CheckResult
from testkit.synapse import free_port

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from terminal_adapter import CHAT_JID, TerminalAdapter  # noqa: E402

BIN = Path(sys.executable).parent
SECRET: Final = "adapter-check-test-secret"
EXAMPLE: Final = [str(BIN / "switchboard-adapter-example")]
BROKEN: Final = [sys.executable, str(HERE / "broken_adapter.py")]
OLD: Final = [sys.executable, str(HERE / "old_adapter.py")]
# What the broken adapter gets wrong, and so the rows that must fail.
BROKEN_RULES: Final = {
    "health-needs-secret",
    "repeated-key",
    "oversized-text",
    "gated-down-and-back",
}


@pytest.fixture
def stopped() -> Iterator[list[AdapterCheck | TerminalAdapter]]:
    """Checkers and adapters a test started, stopped at its end however it went."""
    started: list[AdapterCheck | TerminalAdapter] = []
    yield started
    for thing in reversed(started):
        if isinstance(thing, AdapterCheck):
            thing.kill()
        else:
            thing.stop()


def checked(
    command: list[str], root: Path, stopped: list[AdapterCheck | TerminalAdapter]
) -> tuple[TerminalAdapter, CheckResult]:
    """The adapter `command` checked, started first: it must keep trying to register until
    the checker's gated is up. The adapter, still running, and the checker's result."""
    port = free_port()
    adapter = TerminalAdapter(command, root, f"http://127.0.0.1:{port}", SECRET).start()
    stopped.append(adapter)
    checker = AdapterCheck(secret=SECRET, say=adapter.say_command, chat_jid=CHAT_JID, port=port)
    stopped.append(checker)
    return adapter, checker.result(adapter.log_tail)


def test_the_example_adapter_passes_every_rule(
    tmp_path: Path, stopped: list[AdapterCheck | TerminalAdapter]
) -> None:
    adapter, done = checked(EXAMPLE, tmp_path, stopped)
    assert done.status == 0, done.shown
    assert list(done.rows) == [rule.name for rule in RULES], done.shown
    not_passed = {rule: result for rule, result in done.results().items() if result != "PASS"}
    assert not_passed == {"file-out": "n/a", "file-in": "n/a"}, done.shown
    assert done.rows["file-in"]["detail"] == "capabilities.files_in is false"
    assert "protocol 1.1" in done.rows["registration"]["detail"]
    assert adapter.stop() == 0, adapter.log_tail()


def test_a_protocol_1_0_adapter_passes_and_the_1_1_rules_are_not_applicable(
    tmp_path: Path, stopped: list[AdapterCheck | TerminalAdapter]
) -> None:
    adapter, done = checked(OLD, tmp_path, stopped)
    assert done.status == 0, done.shown
    assert list(done.rows) == [rule.name for rule in RULES], done.shown
    passed = {rule for rule, result in done.results().items() if result == "PASS"}
    assert passed == {"registration", "health", "inbound", "reply", "gated-down-and-back"}
    not_run = {rule: row["detail"] for rule, row in done.rows.items() if row["result"] == "n/a"}
    assert set(not_run) == {rule.name for rule in RULES if rule.needs is not None}, done.shown
    assert set(not_run.values()) == {"protocol 1.0 adapter: a protocol 1.1 rule"}, done.shown
    assert "protocol 1.0" in done.rows["registration"]["detail"], done.shown
    assert adapter.stop() == 0, adapter.log_tail()


def test_a_broken_adapter_fails_exactly_the_rules_it_breaks(
    tmp_path: Path, stopped: list[AdapterCheck | TerminalAdapter]
) -> None:
    adapter = TerminalAdapter(BROKEN, tmp_path, "", SECRET)
    checker = AdapterCheck(secret=SECRET, say=adapter.say_command, chat_jid=CHAT_JID, timeout=8)
    stopped.append(checker)
    # This time the checker's gated is up first, then the adapter registers.
    checker.wait_gated()
    adapter.gated_url = checker.url
    stopped.append(adapter.start())
    done = checker.result(adapter.log_tail)
    assert done.status == 1, done.shown
    failed = {rule for rule, result in done.results().items() if result == "FAIL"}
    assert failed == BROKEN_RULES, done.shown
    assert set(done.results().values()) == {"PASS", "FAIL", "n/a"}, done.shown
    rows = done.rows
    assert "posted twice" in rows["repeated-key"]["detail"], done.shown
    assert "answered 200" in rows["oversized-text"]["detail"], done.shown
    assert "200 without the secret" in rows["health-needs-secret"]["detail"], done.shown
    assert "message lost" in adapter.log_tail(), done.shown


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["http://10.0.0.1:8700", "--say", "true", "--chat", "term:a"], "this machine only"),
        (["https://127.0.0.1:8700", "--say", "true", "--chat", "term:a"], "URL"),
        (["http://127.0.0.1", "--say", "true", "--chat", "term:a"], "URL"),
        (["http://127.0.0.1:8700/v1", "--say", "true", "--chat", "term:a"], "URL"),
        (["http://127.0.0.1:8700", "--say", "no-such-cmd-x", "--chat", "term:a"], "--say"),
        (["http://127.0.0.1:8700", "--say", "'unclosed", "--chat", "term:a"], "--say"),
        (["http://127.0.0.1:8700", "--say", "true", "--chat", "no colon"], "--chat"),
        (["http://127.0.0.1:8700", "--chat", "term:a"], "--say"),
        (["http://127.0.0.1:8700", "--say", "true", "--chat", "t:a", "--timeout", "0"], "timeout"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--secret", SECRET])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert complaint in err


def test_without_a_secret_it_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SWITCHBOARD_CHANNEL_SECRET", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["http://127.0.0.1:8700", "--say", "true", "--chat", "term:a"])
    assert exited.value.code == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("--secret (or SWITCHBOARD_CHANNEL_SECRET) is required")
    )


def test_a_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["--secret", SECRET, "--say", "true", "--chat", CHAT_JID]
        done = subprocess.run(
            [str(BIN / "switchboard-adapter-check"), f"http://127.0.0.1:{port}", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("switchboard-adapter-check: error: cannot listen at http://127."), last
    assert last.endswith("give a free port"), last
    assert done.stdout == ""


def test_help_lists_every_rule_and_the_exit_statuses() -> None:
    done = subprocess.run(
        [str(BIN / "switchboard-adapter-check"), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    for rule in RULES:
        assert rule.name in done.stdout
    assert "exit status: 0 no rule failed, 1 a rule failed, 2" in done.stdout
