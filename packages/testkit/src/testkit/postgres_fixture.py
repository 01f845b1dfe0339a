"""The pytest plugin of the throw-away PostgreSQL cluster: `pg_cluster` (one server for the
session, started on first use, stopped at the end), `pg_url` (a fresh empty database per
test) and `pg_migrated_url` (a fresh database with the core schema, copied from a template
migrated once); `backend` ('sqlite' unless a test is marked `BOTH_BACKENDS`, which runs it
once per backend: a tree's `db` fixture reads `backend`). Without PostgreSQL these skip with
the reason; SWITCHBOARD_REQUIRE_ALL=1 turns the skip into a failure. Loaded by the root
conftest's `pytest_plugins`."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest
import store

from testkit.postgres import PostgresCluster, missing_reason

STARTUP_KEY = pytest.StashKey[float]()
MIGRATED_TEMPLATE = "sb_migrated"
BACKENDS = ("sqlite", "postgresql")
BOTH_BACKENDS = pytest.mark.parametrize("backend", BACKENDS)


@pytest.fixture
def backend() -> str:
    """The backend of a test not marked BOTH_BACKENDS."""
    return "sqlite"


@pytest.fixture(scope="session")
def pg_cluster(request: pytest.FixtureRequest) -> Iterator[PostgresCluster]:
    """A running PostgreSQL cluster shared by every test of the session."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    cluster = PostgresCluster().start()
    request.config.stash[STARTUP_KEY] = cluster.startup_s
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_migrated_template(pg_cluster: PostgresCluster) -> str:
    """The name of a database holding the core schema, to copy (nobody connects to it)."""
    url = pg_cluster.create_database(name=MIGRATED_TEMPLATE)
    store.open_db(url).close()
    return MIGRATED_TEMPLATE


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> Iterator[str]:
    """The URL of a new empty database (dropped after the test)."""
    url = pg_cluster.create_database()
    yield url
    pg_cluster.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def pg_migrated_url(pg_cluster: PostgresCluster, pg_migrated_template: str) -> Iterator[str]:
    """The URL of a new database with the core schema applied (dropped after the test)."""
    url = pg_cluster.create_database(template=pg_migrated_template)
    yield url
    pg_cluster.drop_database(url.rsplit("/", 1)[1])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    cluster = getattr(item, "funcargs", {}).get("pg_cluster")
    if report.failed and isinstance(cluster, PostgresCluster):
        report.sections.append(("postgresql log", cluster.log_tail()))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    startup = terminalreporter.config.stash.get(STARTUP_KEY, None)
    if startup is not None:
        terminalreporter.write_line(f"postgresql: cluster started in {startup:.1f} s")
