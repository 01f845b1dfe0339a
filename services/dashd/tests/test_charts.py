"""The charts page on a real dashd: the numbers of a known workload (messages in and out per
hour, runs per day with failures and durations, task lateness, cost per group) in its tables
and as bars; operators only; hostile names escaped; and in a real chromium, light and dark,
screenshotted and checked for content (five charts drawn, bars coloured from each scheme)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import store
from dashd.users import add_user
from dashd_harness import PASSWORD, Server, open_db, signed_in, signed_in_page, start_dashd
from store.usage import RunUsage
from testkit.runs import start_run
from timed import api as timed
from timed.firing import record_run
from timed.migrations import MIGRATIONS as TIMED

HOSTILE = "x<script>alert(1)</script>"


def seed(conn: sqlite3.Connection) -> None:
    """3 messages in and 2 out two hours ago; 4 runs today (1 failed), 2 reporting $1.5 and
    $0.25 for two groups; one task fired 3 s late."""
    now = store.utcnow()
    store.register_group(conn, "web:alpha", "alpha")
    store.register_group(conn, "web:beta", "beta")
    at = store.iso(now - timedelta(hours=2))
    for n in range(3):
        store.put_message(
            conn, store.NewMessage(id=f"in{n}", chat_jid="web:alpha", content=HOSTILE, timestamp=at)
        )
    conn.execute("UPDATE messages SET timestamp = ? WHERE chat_jid = 'web:alpha'", (at,))
    for n in range(2):
        store.store_outbound(conn, "web:alpha", f"reply {n}", msg_id=f"out{n}")
    conn.execute("UPDATE messages SET timestamp = ? WHERE id LIKE 'out%'", (at,))
    for n, (folder, result, usage) in enumerate(
        [
            ("alpha", "ok", RunUsage(10, 5, 1.5)),
            ("alpha", "error", None),
            ("beta", "ok", RunUsage(1, 1, 0.25)),
            ("beta", "ok", None),
        ]
    ):
        run = start_run(conn, folder, f"t{n}", f"web:{folder}", None)
        store.end_run(conn, run, result, usage=usage)
    store.migrate_service(conn, "timed", TIMED)
    task = timed.add_task(conn, chat_jid="web:alpha", prompt="tick", every_s=3600)
    slot = now - timedelta(seconds=3)
    with store.tx(conn):
        record_run(conn, task, store.iso(slot), "fired", now, "test")


@pytest.fixture(scope="module")
def charted(module_tmp: Path) -> Iterator[Server]:
    db = module_tmp / "charts.db"
    conn = open_db(db)
    add_user(conn, "admin", PASSWORD)
    add_user(conn, "alice", PASSWORD, ["alpha"])
    seed(conn)
    conn.close()
    srv = start_dashd(db, module_tmp)
    yield srv
    assert srv.stop() == 0


def test_the_charts_show_the_workloads_numbers(charted: Server) -> None:
    admin = signed_in(charted, "admin")
    page = admin.get("/charts")
    assert page.status_code == 200
    html = page.text
    assert html.count('<svg class="chart"') == 5
    assert "<td>3</td><td>2</td>" in html  # the hour two hours ago: 3 in, 2 out
    assert "<td>4</td><td>1</td>" in html  # today: 4 runs, 1 failed
    assert "<td>1</td><td>3.00</td><td>3.00</td>" in html  # one task, 3 s late
    assert "<tr><td>alpha</td><td>1.50</td></tr><tr><td>beta</td><td>0.25</td></tr>" in html
    assert 'class="bar series-bad"' in html
    assert "<script>alert" not in html  # message texts never reach the page anyway
    assert 'href="/charts" aria-current="page"' in html


def test_charts_are_for_operators_only(charted: Server) -> None:
    alice = signed_in(charted, "alice")
    assert alice.get("/charts").status_code == 403
    assert 'href="/charts"' not in alice.get("/").text
    anonymous = httpx.Client(base_url=charted.url, follow_redirects=False, timeout=10)
    assert anonymous.get("/charts").status_code in (302, 303)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_charts_in_chromium(charted: Server, scheme: str, module_tmp: Path) -> None:
    with signed_in_page(charted, "admin", scheme) as page:
        page.goto(f"{charted.url}/charts")
        assert page.locator("svg.chart").count() == 5
        assert page.locator("svg.chart rect.bar").count() == 48 * 2 + 30 * 2 * 3 + 2
        fill = page.eval_on_selector("svg.chart rect.series-a", "e => getComputedStyle(e).fill")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert fill == ("rgb(35, 88, 196)" if scheme == "light" else "rgb(122, 167, 255)")
        assert background == ("rgb(247, 247, 245)" if scheme == "light" else "rgb(19, 21, 24)")
        shot = module_tmp / f"charts-{scheme}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000


def test_the_charts_count_what_is_new_once(module_tmp: Path) -> None:
    """dashd keeps the sums and reads only new rows: rows added between two loads appear once,
    a run still going at the first load is counted when it ends, a reload adds nothing."""
    db = module_tmp / "incremental.db"
    conn = open_db(db)
    add_user(conn, "admin", PASSWORD)
    store.register_group(conn, "web:gamma", "gamma")
    going = start_run(conn, "gamma", "", "web:gamma", None)
    srv = start_dashd(db, module_tmp)
    try:
        admin = signed_in(srv, "admin")
        first = admin.get("/charts").text
        assert "No agent runs in the last" in first  # the one run has not ended
        at = store.iso(store.utcnow() - timedelta(hours=1))
        for n in range(4):
            store.put_message(
                conn, store.NewMessage(id=f"n{n}", chat_jid="web:gamma", content="x", timestamp=at)
            )
        store.end_run(conn, going, "error", usage=RunUsage(1, 1, 0.5))
        done = start_run(conn, "gamma", "t", "web:gamma", None)
        store.end_run(conn, done, "ok", usage=RunUsage(1, 1, 0.25))
        for _ in range(2):  # the second load reads nothing new: the same numbers
            html = admin.get("/charts").text
            assert "<td>4</td><td>0</td>" in html  # the hour an hour ago: 4 in, 0 out
            assert "<td>2</td><td>1</td>" in html  # today: 2 runs ended, 1 failed
            assert "<tr><td>gamma</td><td>0.75</td></tr>" in html
    finally:
        conn.close()
        assert srv.stop() == 0
