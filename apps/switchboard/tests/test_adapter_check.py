"""`switchboard-adapter-check` against real adapter processes: the example adapter passes every
rule; a deliberately broken one fails exactly the rules it breaks; bad arguments, and a gated
that cannot start, are one line and exit 2."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from switchboard.adaptercheck.main import main
from switchboard.adaptercheck.rules import RULES
from testkit import wait_for
from testkit.synapse import free_port

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from terminal_adapter import CHAT_JID, TerminalAdapter  # noqa: E402

BIN = Path(sys.executable).parent
SECRET: Final = "adapter-check-test-secret"
CHECK_TIMEOUT_S: Final = 100.0
EXAMPLE: Final = [str(BIN / "switchboard-adapter-example")]
BROKEN: Final = [sys.executable, str(HERE / "broken_adapter.py")]
# What the broken adapter gets wrong, and so the rows that must fail.
BROKEN_RULES: Final = {
    "health-needs-secret",
    "repeated-key",
    "oversized-text",
    "gated-down-and-back",
}


class Checker:
    """`switchboard-adapter-check --json` as a process, pointed at a free port."""

    def __init__(self, say: str, *, port: int | None = None, timeout: float = 20.0) -> None:
        self.url = f"http://127.0.0.1:{port or free_port()}"
        self.proc = subprocess.Popen(
            [
                str(BIN / "switchboard-adapter-check"),
                self.url,
                "--secret",
                SECRET,
                "--say",
                say,
                "--chat",
                CHAT_JID,
                "--timeout",
                str(timeout),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def gated_up(self) -> bool:
        assert self.proc.poll() is None, self.proc.communicate()
        try:
            return httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def result(self, adapter: TerminalAdapter) -> tuple[int, dict[str, dict[str, str]], str]:
        """(exit status, rows by rule, what to show when an assertion fails)."""
        out, err = self.proc.communicate(timeout=CHECK_TIMEOUT_S)
        shown = (
            f"checker stderr:\n{err}\nchecker stdout:\n{out}\nadapter log:\n{adapter.log_tail()}"
        )
        rows = {row["rule"]: row for row in json.loads(out)} if out.strip() else {}
        return self.proc.returncode, rows, shown

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def stopped() -> Iterator[list[Any]]:
    """Checkers and adapters a test started, stopped at its end however it went."""
    started: list[Any] = []
    yield started
    for thing in reversed(started):
        thing.kill() if isinstance(thing, Checker) else thing.stop()


def test_the_example_adapter_passes_every_rule(tmp_path: Path, stopped: list[Any]) -> None:
    port = free_port()
    # The adapter starts first: it must keep trying to register until the checker's gated is up.
    adapter = TerminalAdapter(EXAMPLE, tmp_path, f"http://127.0.0.1:{port}", SECRET).start()
    stopped.append(adapter)
    checker = Checker(adapter.say_command, port=port)
    stopped.append(checker)
    status, rows, shown = checker.result(adapter)
    assert status == 0, shown
    assert list(rows) == [rule.name for rule in RULES], shown
    assert {r["rule"]: r["result"] for r in rows.values() if r["result"] != "PASS"} == {
        "file-out": "n/a",
        "file-in": "n/a",
    }, shown
    assert rows["file-in"]["detail"] == "capabilities.files_in is false"
    assert "protocol 1.1" in rows["registration"]["detail"]
    assert adapter.stop() == 0, adapter.log_tail()


def test_a_broken_adapter_fails_exactly_the_rules_it_breaks(
    tmp_path: Path, stopped: list[Any]
) -> None:
    fifo_dir = tmp_path / "broken"
    fifo_dir.mkdir()
    adapter = TerminalAdapter(BROKEN, fifo_dir, "", SECRET)
    checker = Checker(adapter.say_command, timeout=8)
    stopped.append(checker)
    # This time the checker's gated is up first, then the adapter registers.
    wait_for(checker.gated_up, 30, "the checker's gated")
    adapter.gated_url = checker.url
    stopped.append(adapter.start())
    status, rows, shown = checker.result(adapter)
    assert status == 1, shown
    failed = {rule for rule, row in rows.items() if row["result"] == "FAIL"}
    assert failed == BROKEN_RULES, shown
    assert all(row["result"] in ("PASS", "n/a") for r, row in rows.items() if r not in failed)
    assert "posted twice" in rows["repeated-key"]["detail"], shown
    assert "answered 200" in rows["oversized-text"]["detail"], shown
    assert "200 without the secret" in rows["health-needs-secret"]["detail"], shown
    assert "message lost" in adapter.log_tail(), shown


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
