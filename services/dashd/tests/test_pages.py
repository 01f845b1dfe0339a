"""What each page shows: escaping, security headers, static files, status, chat paging and
search, web chat writes, task actions and onboarding decisions through their owners."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import store
from dashd_harness import PASSWORD, Server, open_db, signed_in, start_dashd, token_for
from onbod import api as onbod
from onbod.config import Config as OnbodConfig
from onbod.main import Daemon as Onbod
from timed import api as timed

XSS = '<script>alert("x")</script><img src=x onerror="alert(1)">'


@pytest.fixture(scope="module")
def site(db: Path, module_tmp: Path) -> Iterator[Server]:
    conn = open_db(db, owners=True)
    (module_tmp / "groups" / "demo").mkdir(parents=True)
    store.register_group(conn, "tg:demo-chat", "demo", agent_config={"command": "echo-agent"})
    store.update_folder_settings(conn, "demo", {"sandbox": "bwrap", "env.NOTE": XSS}, [])
    store.put_messages(
        conn,
        [
            store.NewMessage(id=f"m{i}", chat_jid="tg:long", content=f"long chat message {i}")
            for i in range(120)
        ],
    )
    store.put_message(
        conn,
        store.NewMessage(id="x", chat_jid="tg:demo-chat", content=XSS, sender=XSS, sender_name=XSS),
    )
    conn.close()
    srv = start_dashd(db, module_tmp)
    yield srv
    assert srv.stop() == 0


def test_script_and_onerror_in_a_message_render_as_text(admin: httpx.Client) -> None:
    client = admin
    for url in ("/chats/tg:demo-chat", "/search?q=onerror"):
        html = client.get(url).text
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=" in html


def test_the_group_page_shows_each_folders_settings_escaped(admin: httpx.Client) -> None:
    html = admin.get("/groups").text
    assert "<script>alert" not in html
    section = html[html.index('<section id="settings">') :]
    section = section[: section.index("</section>")]
    assert '<h3 id="settings-demo">demo</h3>' in section
    rows = {
        key: (value, "default" in marker)
        for key, value, marker in re.findall(
            r"<tr><td><code>([^<]*)</code></td><td><code>(.*?)</code></td><td>(.*?)</td></tr>",
            section,
        )
    }
    assert rows["command"] == ("echo-agent", False)
    assert rows["sandbox"] == ("bwrap", False)
    assert rows["pids"] == ("256", True)
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=&#34;alert(1)"
    assert rows["env.NOTE"] == (f"{escaped}&#34;&gt;", False)


def test_the_group_page_shows_each_folders_persona_escaped(
    admin: httpx.Client, conn: sqlite3.Connection, module_tmp: Path
) -> None:
    (module_tmp / "groups" / "demo" / "CLAUDE.md").write_text(f"# Demo helper\n\nBe kind. {XSS}\n")
    linked = module_tmp / "groups" / "linked"
    linked.mkdir(parents=True)
    (module_tmp / "outside.txt").write_text("OUTSIDE-THE-FOLDER")
    (linked / "CLAUDE.md").symlink_to(module_tmp / "outside.txt")
    store.register_group(conn, "tg:linked", "linked")
    try:
        html = admin.get("/groups").text
    finally:
        store.unregister_group(conn, "tg:linked")
    assert "<script>alert" not in html
    demo = html[html.index('id="persona-demo"') :]
    demo = demo[: demo.index("</details>")]
    assert "<summary>Persona: Be kind. &lt;script&gt;" in demo
    assert "# Demo helper" in demo
    assert "(3 lines)" in demo
    assert "Be kind. &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in demo
    assert "OUTSIDE-THE-FOLDER" not in html
    assert 'id="persona-linked">Persona: CLAUDE.md is not a plain file; not shown.' in html


def test_security_headers_on_every_response(admin: httpx.Client) -> None:
    client = admin
    for url in ("/", "/chats", "/login", "/healthz", "/nope"):
        r = client.get(url)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
    assert client.get("/").headers["cache-control"] == "no-store"
    assert client.get("/chats").headers["cache-control"] == "no-store"


def test_pages_use_no_inline_script_or_style(admin: httpx.Client) -> None:
    client = admin
    for url in (
        "/",
        "/groups",
        "/chats",
        "/search",
        "/web/demo",
        "/sessions",
        "/tasks",
        "/onboarding",
        "/users",
        "/login",
    ):
        html = client.get(url).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), url
        assert " style=" not in html, url
        assert "<style" not in html, url
        assert not re.search(r"<[^>]+\son[a-z]+=", html), url


def test_static_files_have_hashed_names_and_cache_forever(admin: httpx.Client) -> None:
    client = admin
    html = client.get("/").text
    js = re.search(r'src="(/static/htmx\.min\.[0-9a-f]{10}\.js)"', html)
    css = re.search(r'href="(/static/style\.[0-9a-f]{10}\.css)"', html)
    assert js
    assert css
    r = client.get(js.group(1))
    assert r.status_code == 200
    assert "immutable" in r.headers["cache-control"]
    assert r.text.startswith("var htmx=")
    assert client.get("/static/htmx.min.js").status_code == 404


def test_status_page_shows_daemon_health_and_follows_its_stream(admin: httpx.Client) -> None:
    client = admin
    html = client.get("/").text
    assert 'data-daemon="dashd" data-state="up"' in html
    assert 'data-daemon="gated" data-state="missing"' in html
    assert 'data-events="/status/events" data-live="/status/live"' in html
    live = client.get("/status/live", headers={"HX-Request": "true"})
    assert live.status_code == 200
    assert "<html" not in live.text
    assert "No dead letters" in live.text


def test_a_stale_heartbeat_is_red(admin: httpx.Client, conn: sqlite3.Connection) -> None:
    with store.tx(conn):
        conn.execute(
            "INSERT INTO daemons (name, pid, version, heartbeat_at) VALUES "
            "('timed', 4242, '9.9', '2026-01-01T00:00:00.000Z') ON CONFLICT (name) DO UPDATE "
            "SET heartbeat_at = excluded.heartbeat_at, stopped_at = NULL"
        )
    html = admin.get("/status/live").text
    assert 'class="bad" data-daemon="timed" data-state="stale"' in html


def test_a_chat_shows_undelivered_replies(admin: httpx.Client, conn: sqlite3.Connection) -> None:
    seq = store.store_outbound(conn, "tg:demo-chat", "reply that never arrives")
    store.claim_outbound(conn, "test")
    store.mark_failed(conn, seq, "channel down", permanent=True)
    html = admin.get("/chats/tg:demo-chat").text
    assert 'class="pill bad" title="delivery">dead<' in html


def test_chat_pages_by_seq_without_offset(admin: httpx.Client) -> None:
    client = admin
    latest = client.get("/chats/tg:long").text
    assert "long chat message 119" in latest
    assert "long chat message 69" not in latest
    older = re.search(r'href="\?before=(\d+)"', latest)
    assert older
    page2 = client.get(f"/chats/tg:long?before={older.group(1)}").text
    assert "long chat message 69" in page2
    assert "long chat message 70" not in page2
    assert "long chat message 19" not in page2


def test_search_within_a_chat_and_globally(admin: httpx.Client) -> None:
    client = admin
    in_chat = client.get("/chats/tg:long?q=message 11").text
    assert "long chat message 119" in in_chat
    assert "long chat message 110" in in_chat
    assert "long chat message 3<" not in in_chat
    everywhere = client.get("/search?q=MESSAGE 10").text
    assert "long chat message 100" in everywhere
    assert 'href="/chats/tg%3Along"' in everywhere or 'href="/chats/tg:long"' in everywhere
    assert "Nothing in this range" in client.get("/search?q=no-such-text-anywhere").text
    assert client.get("/search?q=" + "x" * 300).status_code == 400


def test_web_chat_registers_the_chat_and_stores_the_users_message(
    admin: httpx.Client, conn: sqlite3.Connection
) -> None:
    client = admin
    assert store.get_group(conn, "web:demo") is None
    page = client.get("/web/demo")
    assert page.status_code == 200
    assert "No messages yet" in page.text
    r = client.post("/web/demo", data={"csrf": token_for(client, "/web/demo"), "text": "hello"})
    assert r.status_code == 303
    group = store.get_group(conn, "web:demo")
    assert group is not None
    assert group.folder == "demo"
    assert store.folder_settings(conn, group.folder).command == "echo-agent"
    [msg] = store.messages_since(conn, "web:demo", 0)
    assert (msg.content, msg.source, msg.sender, msg.group_folder) == (
        "hello",
        "web",
        "admin",
        "demo",
    )
    # A reply written by the gateway shows up in the live partial.
    store.store_outbound(conn, "web:demo", "echo: hello", group_folder="demo")
    since = client.get(f"/web/demo/since?after={msg.seq}", headers={"HX-Request": "true"}).text
    assert 'hx-swap-oob="beforeend:#messages"' in since
    assert "echo: hello" in since
    assert '"body">hello</div>' not in since  # only newer messages
    assert client.get("/web/no-such-group").status_code == 404
    empty = client.post("/web/demo", data={"csrf": token_for(client, "/web/demo"), "text": " "})
    assert empty.status_code == 400


def test_tasks_pause_resume_and_run_now_through_timed(
    admin: httpx.Client, conn: sqlite3.Connection
) -> None:
    task = timed.add_task(conn, chat_jid="tg:demo-chat", prompt="<b>daily</b>", every_s=3600)
    client = admin
    assert "&lt;b&gt;daily&lt;/b&gt;" in client.get("/tasks").text
    page = client.get(f"/tasks/{task.id}").text
    assert "not run yet" in page
    csrf = token_for(client, f"/tasks/{task.id}")
    r = client.post(f"/tasks/{task.id}/pause", data={"csrf": csrf})
    assert r.status_code == 303
    assert timed.get_task(conn, task.id).status == "paused"  # type: ignore[union-attr]
    client.post(f"/tasks/{task.id}/resume", data={"csrf": csrf})
    assert timed.get_task(conn, task.id).status == "active"  # type: ignore[union-attr]
    client.post(f"/tasks/{task.id}/run", data={"csrf": csrf})
    assert len(timed.runs(conn, task.id)) == 1
    assert "fired" in client.get(f"/tasks/{task.id}").text
    assert client.get("/tasks/999999").status_code == 404
    assert client.get("/tasks/99999999999999999999999").status_code == 404
    assert client.get("/tasks?after=99999999999999999999999").status_code == 400
    assert client.get("/chats/tg:long?before=-1").status_code == 400


def test_onboarding_approve_and_reject_through_onbod(
    admin: httpx.Client, conn: sqlite3.Connection
) -> None:
    daemon = Onbod(conn, OnbodConfig())
    for jid, name in (("tg:newcomer", "newworld"), ("tg:spammer", "spamworld")):
        store.put_message(conn, store.NewMessage(id="1", chat_jid=jid, content="hi there"))
        daemon.step(store.utcnow())
        store.put_message(conn, store.NewMessage(id="2", chat_jid=jid, content=name))
        daemon.step(store.utcnow())
    assert {o.jid for o in onbod.pending(conn)} == {"tg:newcomer", "tg:spammer"}
    client = admin
    page = client.get("/onboarding").text
    assert "newworld" in page
    csrf = token_for(client, "/onboarding")
    r = client.post("/onboarding/approve", data={"csrf": csrf, "jid": "tg:newcomer"})
    assert r.status_code == 303
    assert "err=" not in r.headers["location"]
    assert store.get_group(conn, "tg:newcomer") is not None
    client.post("/onboarding/reject", data={"csrf": csrf, "jid": "tg:spammer", "reason": "spam"})
    assert onbod.pending(conn) == []
    again = client.post("/onboarding/approve", data={"csrf": csrf, "jid": "tg:newcomer"})
    assert "err=" in again.headers["location"]


def test_operator_manages_routes_and_users(
    site: Server, admin: httpx.Client, conn: sqlite3.Connection
) -> None:
    client = admin
    csrf = token_for(client, "/groups")
    r = client.post(
        "/routes",
        data={
            "csrf": csrf,
            "jid": "tg:demo-chat",
            "type": "keyword",
            "match": "urgent",
            "target": "demo",
        },
    )
    assert r.status_code == 303
    [route] = store.routes_for(conn, "tg:demo-chat")
    assert "urgent" in client.get("/groups").text
    bad = client.post(
        "/routes",
        data={"csrf": csrf, "jid": "bad jid", "type": "keyword", "match": "x", "target": "demo"},
    )
    assert bad.status_code == 400
    assert "jid" in bad.text
    client.post(f"/routes/{route.id}/delete", data={"csrf": csrf})
    assert store.routes_for(conn, "tg:demo-chat") == []
    client.post(
        "/users", data={"csrf": csrf, "username": "bob", "password": PASSWORD, "folders": "demo"}
    )
    assert "bob" in client.get("/users").text
    bob = signed_in(site, "bob")
    assert bob.get("/users").status_code == 403
    client.post("/users/delete", data={"csrf": csrf, "username": "bob"})
    assert bob.get("/").status_code == 303  # removed users are signed out at once


def test_empty_lists_say_what_to_do_next(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    from dashd.users import add_user

    add_user(open_db(db), "admin", PASSWORD)
    srv = start_dashd(db, tmp_path)
    try:
        client = signed_in(srv, "admin")
        expectations = {
            "/groups": "switchboard group add",
            "/chats": "Send a message from the",
            "/web": "switchboard group add",
            "/sessions": "No agent sessions yet",
            "/search": "Type some text",
            "/": "No agent is running",
        }
        for url, text in expectations.items():
            assert text in client.get(url).text, url
    finally:
        assert srv.stop() == 0
