"""The pytest plugin of the real Matrix homeserver: a session-scoped `synapse` fixture (one
Synapse for the whole run, started on first use), the log's tail on a failing test that used
it, and its startup time in the run's summary. Loaded by the root conftest's `pytest_plugins`."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from testkit.synapse import Synapse

STARTUP_KEY = pytest.StashKey[float]()


@pytest.fixture(scope="session")
def synapse(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Synapse]:
    """A running Synapse shared by every test of the session: register fresh localparts."""
    server = Synapse.start(tmp_path_factory.mktemp("synapse"))
    request.config.stash[STARTUP_KEY] = server.startup_s
    try:
        yield server
    finally:
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    server = getattr(item, "funcargs", {}).get("synapse")
    if report.failed and isinstance(server, Synapse):
        report.sections.append(("synapse log", server.log_tail()))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    startup = terminalreporter.config.stash.get(STARTUP_KEY, None)
    if startup is not None:
        terminalreporter.write_line(f"synapse: started in {startup:.1f} s")
