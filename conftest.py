"""Repository-wide pytest hooks: with SWITCHBOARD_REQUIRE_ALL=1 (set by .ci/run) a skipped test
is a failure, so a missing system package can never pass CI silently. Plugins every test tree
may use: `testkit.synapse_fixture` (the session's real Matrix homeserver, `synapse`),
`testkit.postgres_fixture` (the session's throw-away PostgreSQL cluster, `pg_cluster`, and a
fresh database per test, `pg_url` / `pg_migrated_url`) and
`standin_fixtures` (the Telegram, Slack and Discord stand-ins: `telegram`, `slack`,
`discord_cloud`; services/platforms/tests is on the path for it)."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["testkit.synapse_fixture", "testkit.postgres_fixture", "standin_fixtures"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if (
        os.environ.get("SWITCHBOARD_REQUIRE_ALL") == "1"
        and report.skipped
        and not hasattr(report, "wasxfail")
    ):
        report.outcome = "failed"
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped under SWITCHBOARD_REQUIRE_ALL=1: {reason}"
