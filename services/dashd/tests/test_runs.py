"""A run's page (`/sessions/<id>`): every tool call the agent made, in order, escaped (the
arguments come from the agent, so from anyone who can talk to it); the session log counts each
run's calls; a restricted user sees only their groups' runs; a database gated never migrated
(no `tool_calls`) shows runs without calls."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import store
from dashd.users import add_user
from dashd_harness import PASSWORD, Server, open_db, signed_in, start_dashd
from gated.migrations import MIGRATIONS as GATED
from testkit.runs import record_call, start_run

XSS = '<script>alert("x")</script><img src=x onerror="alert(1)">'


@pytest.fixture(scope="module")
def world(db: Path, module_tmp: Path) -> Iterator[tuple[Server, dict[str, int]]]:
    """gated's schema; a run of alpha with four calls (one hostile, one refused, one long), a
    run of alpha without calls, a run of beta; `alice` may see alpha only."""
    conn = open_db(db)
    store.migrate_service(conn, "gated", GATED)
    store.register_group(conn, "web:alpha", "alpha")
    store.register_group(conn, "web:beta", "beta")
    busy = start_run(conn, "alpha", "", "web:alpha", "s-1")
    record_call(conn, busy, 1, "chat_info", {}, result={"chat_jid": "web:alpha"})
    record_call(conn, busy, 2, "send_message", {"text": XSS}, result={"seq": 12, "note": XSS})
    record_call(
        conn,
        busy,
        3,
        "schedule_task",
        {"prompt": "later"},
        error=("denied", f"schedule_task is not granted to alpha {XSS}"),
    )
    record_call(conn, busy, 4, "history", {"filler": "y" * 1000}, result=[])
    store.end_run(conn, busy, "ok", session_id="s-1")
    quiet = start_run(conn, "alpha", "", "web:alpha", None)
    store.end_run(conn, quiet, "error", error="agent exited 1")
    beta = start_run(conn, "beta", "", "web:beta", None)
    record_call(conn, beta, 1, "send_message", {"text": "BETA-ONLY"}, result={"seq": 13})
    add_user(conn, "alice", PASSWORD, ["alpha"])
    conn.close()
    srv = start_dashd(db, module_tmp)
    yield srv, {"busy": busy, "quiet": quiet, "beta": beta}
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def admin(world: tuple[Server, dict[str, int]]) -> Iterator[httpx.Client]:
    client = signed_in(world[0], "admin")
    yield client
    client.close()


def call_rows(html: str) -> list[str]:
    body = html[html.index('<table class="calls">') :]
    body = body[: body.index("</table>")]
    return re.findall(r"<tr class=\"(?:good|bad)\">(.*?)</tr>", body, re.S)


def test_the_run_page_lists_every_call_in_order(
    world: tuple[Server, dict[str, int]], admin: httpx.Client
) -> None:
    r = admin.get(f"/sessions/{world[1]['busy']}")
    assert r.status_code == 200
    rows = call_rows(r.text)
    tools = [re.findall(r"<code>(\w+)</code>", row)[0] for row in rows]
    assert tools == ["chat_info", "send_message", "schedule_task", "history"]
    assert "09:00:01.500" in rows[0]
    assert ">3.0 ms<" in rows[1]
    assert '<span class="pill bad">error</span>' in rows[2]
    assert "<strong>denied</strong>: schedule_task is not granted to alpha" in rows[2]
    assert "<details><summary>" in rows[3]  # a long argument text is folded
    assert "web:alpha" in r.text
    assert "<code>s-1</code>" in r.text


def test_a_hostile_agents_arguments_render_escaped(
    world: tuple[Server, dict[str, int]], admin: httpx.Client
) -> None:
    html = admin.get(f"/sessions/{world[1]['busy']}").text
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    # JSON-quoted by the audit, then HTML-escaped by the page.
    assert "&lt;script&gt;alert(\\&#34;x\\&#34;)&lt;/script&gt;" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"<[^>]+\son[a-z]+=", html)


def test_the_session_log_counts_calls_and_links_each_run(
    world: tuple[Server, dict[str, int]], admin: httpx.Client
) -> None:
    ids = world[1]
    html = admin.get("/sessions").text
    assert f'<a href="/sessions/{ids["busy"]}#calls">4</a>' in html
    assert f'<a href="/sessions/{ids["quiet"]}">{ids["quiet"]}</a>' in html
    quiet = admin.get(f"/sessions/{ids['quiet']}").text
    assert "This run made no tool calls" in quiet
    assert "agent exited 1" in quiet


def test_an_unknown_run_is_404(world: tuple[Server, dict[str, int]], admin: httpx.Client) -> None:
    assert admin.get(f"/sessions/{world[1]['beta'] + 1000}").status_code == 404
    assert admin.get("/sessions/0").status_code == 404


def test_a_restricted_user_sees_only_their_groups_runs(
    world: tuple[Server, dict[str, int]],
) -> None:
    srv, ids = world
    alice = signed_in(srv, "alice")
    try:
        assert alice.get(f"/sessions/{ids['busy']}").status_code == 200
        r = alice.get(f"/sessions/{ids['beta']}")
        assert r.status_code == 404
        assert "BETA-ONLY" not in r.text
        assert f"/sessions/{ids['beta']}" not in alice.get("/sessions").text
    finally:
        alice.close()


def test_without_gated_schema_runs_show_no_calls(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    conn = open_db(db)
    add_user(conn, "admin", PASSWORD)
    run = start_run(conn, "demo", "", "web:demo", None)
    conn.close()
    srv = start_dashd(db, tmp_path)
    try:
        client = signed_in(srv, "admin")
        log = client.get("/sessions")
        assert log.status_code == 200
        assert f'<a href="/sessions/{run}">{run}</a>' in log.text
        page = client.get(f"/sessions/{run}")
        assert page.status_code == 200
        assert "This run made no tool calls" in page.text
    finally:
        assert srv.stop() == 0
