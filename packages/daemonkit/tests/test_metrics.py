"""The metrics kit: who may read /metrics (attacked with forged client addresses, proxy headers
and wrong tokens), the `--metrics-listen` listener, and `FinalRows` counting every final row of
a real SQLite table exactly once however rows open, close and interleave with reads."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import store
from daemonkit import settings
from daemonkit.metrics import MetricsApp, refusal, serve_metrics
from daemonkit.tally import DbCollector, FinalRows, GroupedRows
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

TOKEN = "s3cret-scrape-token"


def answer(client: str | None, headers: dict[str, str], token: str | None) -> int:
    """The status `refusal` gives a request (200: served)."""
    refused = refusal(client, headers, token)
    return 200 if refused is None else refused.status


@pytest.mark.parametrize("client", ["127.0.0.1", "127.8.9.10", "::1"])
def test_loopback_without_token_is_served(client: str) -> None:
    assert refusal(client, {}, None) is None
    assert refusal(client, {}, TOKEN) is None


@pytest.mark.parametrize(
    "client", ["192.0.2.7", "10.0.0.1", "::ffff:10.0.0.1", "2001:db8::1", None]
)
def test_remote_without_token_is_forbidden(client: str | None) -> None:
    assert answer(client, {}, TOKEN) == 403


@pytest.mark.parametrize(
    "header",
    [
        ("x-forwarded-for", "203.0.113.5"),
        ("x-forwarded-for", "127.0.0.1"),
        ("forwarded", "for=127.0.0.1"),
        ("x-real-ip", "127.0.0.1"),
    ],
)
def test_request_relayed_by_a_loopback_proxy_counts_as_remote(header: tuple[str, str]) -> None:
    assert answer("127.0.0.1", dict([header]), None) == 403


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer ",
        "Bearer \udcff",
    ],
)
def test_wrong_token_is_refused_even_from_loopback(authorization: str) -> None:
    for client in ("127.0.0.1", "192.0.2.7"):
        assert answer(client, {"authorization": authorization}, TOKEN) == 401


def test_a_token_when_none_is_configured_is_refused() -> None:
    assert answer("127.0.0.1", {"authorization": "Bearer anything"}, None) == 401


def test_right_token_is_served_from_anywhere_even_through_a_proxy() -> None:
    headers = {"authorization": f"Bearer {TOKEN}", "x-forwarded-for": "203.0.113.5"}
    assert refusal("192.0.2.7", headers, TOKEN) is None
    assert refusal("192.0.2.7", {"authorization": f"bearer  {TOKEN}"}, TOKEN) is None


def call_app(app: MetricsApp, client: str, headers: dict[str, str], path: str = "/metrics") -> int:
    """One request through the ASGI app with a forged peer address; its status."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "client": (client, 40000),
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"])


def test_metrics_app_applies_the_rule_to_the_peer_address() -> None:
    app = MetricsApp(CollectorRegistry(), TOKEN)
    assert call_app(app, "127.0.0.1", {}) == 200
    assert call_app(app, "192.0.2.7", {}) == 403
    assert call_app(app, "127.0.0.1", {"X-Forwarded-For": "192.0.2.7"}) == 403
    assert call_app(app, "192.0.2.7", {"Authorization": "Bearer nope"}) == 401
    assert call_app(app, "192.0.2.7", {"Authorization": f"Bearer {TOKEN}"}) == 200
    assert call_app(app, "127.0.0.1", {}, path="/other") == 404


class Rows(DbCollector):
    """A collector over a `runs` table: counts final rows."""

    def __init__(self, db: str) -> None:
        super().__init__(db)
        self.done = self.counter("test_runs", "runs ended", ["result"])
        self.tally(
            FinalRows(
                "SELECT id, result FROM runs WHERE id > :after AND result IS NOT NULL "
                "ORDER BY id LIMIT :limit",
                "SELECT MIN(id) FROM runs WHERE id > :after AND result IS NULL",
            ),
            lambda row: self.done.inc(row["result"]),
        )

    def total(self) -> float:
        values = [
            s.value
            for family in self.collect()
            for s in family.samples
            if s.name == "test_runs_total"
        ]
        return sum(values)


@pytest.fixture
def runs_db(tmp_path: Path) -> Iterator[tuple[str, sqlite3.Connection]]:
    path = tmp_path / "runs.db"
    conn = store.connect(path)
    conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, result TEXT)")
    yield str(path), conn
    conn.close()


def test_rows_ending_out_of_order_are_each_counted_once(
    runs_db: tuple[str, sqlite3.Connection],
) -> None:
    db, conn = runs_db
    for _ in range(4):
        conn.execute("INSERT INTO runs (result) VALUES (NULL)")
    metrics = Rows(db)
    conn.execute("UPDATE runs SET result = 'ok' WHERE id IN (2, 4)")
    assert metrics.total() == 2
    assert metrics.total() == 2
    conn.execute("UPDATE runs SET result = 'error' WHERE id = 1")
    assert metrics.total() == 3
    conn.execute("UPDATE runs SET result = 'ok' WHERE id = 3")
    conn.execute("INSERT INTO runs (result) VALUES ('ok')")
    assert metrics.total() == 5
    assert Rows(db).total() == 5  # a restarted daemon reads the same totals


# Steps: ("open",) adds an open row, ("close", k) closes the k-th open row (mod their count),
# ("final",) adds a row final at once, ("read",) scrapes.
STEP = st.one_of(
    st.just(("open", 0)), st.tuples(st.just("close"), st.integers(0, 50)), st.just(("final", 0))
)


@hsettings(max_examples=60, deadline=None)
@given(steps=st.lists(st.one_of(STEP, st.just(("read", 0))), max_size=60))
def test_every_final_row_is_counted_exactly_once(tmp_path_factory: Any, steps: list[Any]) -> None:
    path = tmp_path_factory.mktemp("tally") / "runs.db"
    conn = store.connect(path)
    try:
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, result TEXT)")
        metrics = Rows(str(path))
        open_ids: list[int] = []
        final = 0
        for kind, k in steps:
            if kind == "open":
                cur = conn.execute("INSERT INTO runs (result) VALUES (NULL)")
                open_ids.append(int(cur.lastrowid or 0))
            elif kind == "close" and open_ids:
                conn.execute(
                    "UPDATE runs SET result = 'ok' WHERE id = ?", (open_ids.pop(k % len(open_ids)),)
                )
                final += 1
            elif kind == "final":
                conn.execute("INSERT INTO runs (result) VALUES ('ok')")
                final += 1
            elif kind == "read":
                assert metrics.total() == final
        assert metrics.total() == final
        metrics.close()
    finally:
        conn.close()


def test_metrics_listener_serves_loopback_and_refuses_a_wrong_token(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store.connect(db).execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, result TEXT)")
    listener = serve_metrics("test", Rows(str(db)), ("127.0.0.1", 0), TOKEN)
    try:
        url = f"http://127.0.0.1:{listener.port}/metrics"
        resp = httpx.get(url)
        assert resp.status_code == 200
        assert "test_runs" in resp.text
        assert "process_cpu_seconds_total" in resp.text
        assert httpx.get(url, headers={"Authorization": "Bearer no"}).status_code == 401
        assert httpx.get(url, headers={"X-Forwarded-For": "1.2.3.4"}).status_code == 403
        assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    finally:
        listener.stop()


def test_metrics_listen_setting_is_off_when_empty() -> None:
    assert settings.optional_listen_address("") is None
    assert settings.optional_listen_address("127.0.0.1:9100") == ("127.0.0.1", 9100)
    with pytest.raises(settings.SettingError):
        settings.optional_listen_address("nope")


class Grouped(DbCollector):
    """A collector over a `runs` table whose rows are final once written, summed in SQL."""

    def __init__(self, db: str) -> None:
        super().__init__(db)
        self.done = self.counter("test_grouped", "rows", ["result"])
        self.tally(
            GroupedRows(
                "SELECT result, COUNT(*) AS n, MAX(id) AS top FROM runs WHERE id > :after "
                "GROUP BY result"
            ),
            lambda row: self.done.inc(row["result"], n=row["n"]),
        )

    def totals(self) -> dict[str, float]:
        return {
            s.labels["result"]: s.value
            for family in self.collect()
            for s in family.samples
            if s.name == "test_grouped_total"
        }


def test_grouped_rows_count_each_row_once_and_a_new_collector_agrees(
    runs_db: tuple[str, sqlite3.Connection],
) -> None:
    db, conn = runs_db
    metrics = Grouped(db)
    assert metrics.totals() == {}
    conn.executemany("INSERT INTO runs (result) VALUES (?)", [("ok",), ("ok",), ("error",)])
    assert metrics.totals() == {"ok": 2, "error": 1}
    assert metrics.totals() == {"ok": 2, "error": 1}
    conn.execute("INSERT INTO runs (result) VALUES ('ok')")
    assert metrics.totals() == {"ok": 3, "error": 1}
    assert Grouped(db).totals() == {"ok": 3, "error": 1}
