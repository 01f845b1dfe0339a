"""The audit log from the dashboard: each POST action is logged exactly once as the signed-in
user from the client's address, with before and after; a refused one logs nothing; passwords
never reach the database; /audit is for operators, filters by actor, origin, action, target and
date, pages by id and escapes what it shows (a real dashd process on a real db file)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import store
from dashd.users import add_user
from dashd_harness import (
    PASSWORD,
    Server,
    open_db,
    signed_in,
    signed_in_page,
    start_dashd,
    token_for,
)
from store import audit
from store.audit import Actor
from testkit.audit import entries_after as since
from testkit.audit import holds, last_id
from testkit.onboarding import pending_request
from timed import api as timed

ENTRY_RE = re.compile(r'<tr id="entry-(\d+)">')
XSS = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def site(db: Path, module_tmp: Path) -> Iterator[Server]:
    conn = open_db(db, owners=True)
    store.register_group(conn, "tg:ops", "ops")
    store.register_group(conn, "tg:other", "other")
    add_user(conn, "viewer", PASSWORD, ["other"])
    pending_request(conn, "tg:asker-1", "world-one")
    pending_request(conn, "tg:asker-2", "world-two")
    conn.close()
    srv = start_dashd(db, module_tmp)
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def viewer(site: Server) -> Iterator[httpx.Client]:
    """A user limited to the folder `other`."""
    client = signed_in(site, "viewer")
    yield client
    client.close()


def test_each_dashboard_action_is_logged_once_with_its_before_and_after(
    admin: httpx.Client, conn: sqlite3.Connection
) -> None:
    task = timed.add_task(conn, chat_jid="tg:ops", prompt="nightly", every_s=3600)
    csrf = token_for(admin, "/groups")
    route_form = {"jid": "tg:ops", "type": "keyword", "match": "urgent", "target": "ops"}
    steps: list[tuple[str, dict[str, str], str, str, Any, Any]] = [
        ("/routes", route_form, "route.add", "tg:ops", None, {"match": "urgent"}),
        ("/routes/{route}/delete", {}, "route.remove", "tg:ops", {"match": "urgent"}, None),
        ("/groups/ops/share", {"action": "create"}, "share.create", "ops", None, {}),
        ("/groups/ops/share", {"action": "rotate"}, "share.rotate", "ops", {}, {}),
        (
            "/groups/ops/share",
            {"action": "origins", "origins": "https://example.com"},
            "share.origins.set",
            "ops",
            {"frame_ancestors": []},
            {"frame_ancestors": ["https://example.com"]},
        ),
        ("/groups/ops/share", {"action": "revoke"}, "share.revoke", "ops", {}, None),
        (f"/tasks/{task.id}/pause", {}, "task.pause", f"task:{task.id}", {"status": "active"},
         {"status": "paused"}),
        (f"/tasks/{task.id}/resume", {}, "task.resume", f"task:{task.id}", {"status": "paused"},
         {"status": "active"}),
        (f"/tasks/{task.id}/run", {}, "task.run_now", f"task:{task.id}", None,
         {"status": "fired"}),
        ("/onboarding/approve", {"jid": "tg:asker-1"}, "onboarding.approve", "tg:asker-1",
         {"status": "pending"}, {"status": "approved", "decided_by": "admin"}),
        ("/onboarding/reject", {"jid": "tg:asker-2", "reason": "no"}, "onboarding.reject",
         "tg:asker-2", {"status": "pending"}, {"status": "rejected", "reason": "no"}),
        ("/users", {"username": "carol", "password": PASSWORD, "folders": "ops"}, "user.add",
         "carol", None, {"username": "carol", "folders": ["ops"]}),
        ("/users/delete", {"username": "carol"}, "user.remove", "carol", {"username": "carol"},
         None),
    ]  # fmt: skip
    last = last_id(conn)
    for url, form, action, target, before, after in steps:
        if "{route}" in url:
            url = url.format(route=store.routes_for(conn, "tg:ops")[0].id)
        r = admin.post(url, data={"csrf": csrf, **form})
        assert r.status_code in (200, 303), (url, r.text[:300])
        assert "err=" not in r.headers.get("location", ""), (url, r.headers)
        new = since(conn, last)
        assert [(e.action, e.target) for e in new] == [(action, target)], url
        (entry,) = new
        assert (entry.actor, entry.origin, entry.remote) == ("admin", "dashboard", "127.0.0.1")
        assert holds(entry.before, before), (url, entry.before)
        assert holds(entry.after, after), (url, entry.after)
        last = entry.id
    # Pages that only read log nothing.
    for page in ("/", "/groups", "/tasks", "/onboarding", "/users", "/audit", "/charts"):
        assert admin.get(page).status_code == 200, page
    assert since(conn, last) == []


def test_a_refused_dashboard_action_logs_nothing(
    site: Server, admin: httpx.Client, viewer: httpx.Client, conn: sqlite3.Connection
) -> None:
    task = timed.add_task(conn, chat_jid="tg:ops", prompt="hourly", every_s=3600)
    csrf = token_for(admin, "/groups")
    last = last_id(conn)
    refused = [
        (admin, "/routes", {"jid": "bad jid", "type": "keyword", "match": "x", "target": "ops"}),
        (admin, "/routes/999999/delete", {}),
        (admin, "/groups/ops/share", {"action": "origins", "origins": "javascript:x"}),
        (admin, "/groups/ops/share", {"action": "revoke"}),  # it has no link
        (admin, "/onboarding/approve", {"jid": "tg:nobody"}),
        (admin, "/users", {"username": "dave", "password": "short"}),
        (admin, "/users/delete", {"username": "admin"}),  # yourself
        (admin, f"/tasks/{task.id}/resume", {}),  # not paused
        (viewer, "/routes", {"jid": "tg:other", "type": "default", "target": "other"}),
        (viewer, f"/tasks/{task.id}/pause", {}),  # another group's task
    ]
    for client, url, form in refused:
        token = csrf if client is admin else token_for(viewer, "/tasks")
        client.post(url, data={"csrf": token, **form})
        assert since(conn, last) == [], url
    # Without the CSRF token nothing happens either.
    assert admin.post(f"/tasks/{task.id}/pause", data={}).status_code == 403
    assert timed.get_task(conn, task.id).status == "active"  # type: ignore[union-attr]
    assert since(conn, last) == []


def test_a_password_set_in_the_dashboard_never_reaches_the_log(
    site: Server, admin: httpx.Client, conn: sqlite3.Connection
) -> None:
    secret = "canary pass phrase 42"
    csrf = token_for(admin, "/users")
    admin.post("/users", data={"csrf": csrf, "username": "erin", "password": secret})
    admin.post("/users/delete", data={"csrf": csrf, "username": "erin"})
    text = " ".join(str(tuple(r)) for r in conn.execute("SELECT * FROM audit_log"))
    assert "erin" in text
    assert secret not in text
    stored = b"".join(p.read_bytes() for p in site.db.parent.glob(f"{site.db.name}*"))
    assert secret.encode() not in stored


def test_the_audit_page_is_for_operators_only(admin: httpx.Client, viewer: httpx.Client) -> None:
    assert viewer.get("/audit").status_code == 403
    assert 'href="/audit"' not in viewer.get("/").text
    page = admin.get("/")
    assert 'href="/audit"' in page.text


@pytest.fixture(scope="module")
def seeded(site: Server) -> list[int]:
    """60 entries by `pager` (tool), then two by `xss` (chat) and one by `oldie`; the ids of
    pager's."""
    conn = store.connect(site.db)
    with store.tx(conn):
        ids = [
            audit.record(conn, Actor("pager", "tool", "web:x run 1"), "route.add", f"web:p{i}")
            for i in range(60)
        ]
        audit.record(
            conn, Actor("xss", "chat", "web:ops"), "group.config.set", XSS,
            before={"env": {"NOTE": XSS}}, after={"env": {"NOTE": "plain"}},
        )  # fmt: skip
        audit.record(conn, Actor("xss", "chat", "web:ops"), "user.password.set", "frank")
        audit.record(conn, Actor("oldie", "cli", "host=a tty=none"), "user.add", "gina")
    conn.close()
    return [i for i in ids if i is not None]


def shown(html: str) -> list[int]:
    return [int(i) for i in ENTRY_RE.findall(html)]


def test_the_audit_page_filters_pages_and_escapes(admin: httpx.Client, seeded: list[int]) -> None:
    pager = seeded
    first = admin.get("/audit", params={"actor": "pager"})
    assert first.status_code == 200
    assert shown(first.text) == pager[::-1][:50]
    more = re.search(r'<a href="(/audit\?before=\d+[^"]*)">Older entries', first.text)
    assert more, "no link to the older entries"
    second = admin.get(more.group(1).replace("&amp;", "&"))
    assert shown(second.text) == pager[::-1][50:]
    assert "Older entries" not in second.text
    xss = admin.get("/audit", params={"origin": "chat", "actor": "xss"}).text
    assert len(shown(xss)) == 2
    assert "<script>alert" not in xss
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in xss
    assert "no values logged" in xss
    assert "<option selected>chat</option>" in xss
    by_action = admin.get("/audit", params={"action": "user.password.set", "actor": "xss"}).text
    assert len(shown(by_action)) == 1
    by_target = admin.get("/audit", params={"target": "gina"}).text
    assert len(shown(by_target)) == 1
    assert shown(admin.get("/audit", params={"target": "gina", "since": "2026-01-01"}).text) == (
        shown(by_target)
    )
    assert shown(admin.get("/audit", params={"target": "gina", "since": "2099-01-01"}).text) == []
    nothing = admin.get("/audit", params={"actor": "nobody-at-all"}).text
    assert "No entries match these filters." in nothing
    assert 'href="/audit">Clear filters' in nothing


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"since": "soon"}, "since"),
        ({"origin": "ssh"}, "origin"),
        ({"action": "x.y"}, "action"),
        ({"before": "-1"}, "before"),
    ],
)
def test_bad_filters_are_a_400_naming_the_field(
    admin: httpx.Client, params: dict[str, str], problem: str
) -> None:
    r = admin.get("/audit", params=params)
    assert r.status_code == 400
    assert problem in r.text


# (light, dark): the text colour of an old value (--bad) and a new one (--good).
OLD_VALUE = ("rgb(180, 35, 24)", "rgb(255, 138, 126)")
NEW_VALUE = ("rgb(26, 127, 55)", "rgb(87, 210, 122)")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_audit_page_in_chromium(
    site: Server, seeded: list[int], scheme: str, module_tmp: Path
) -> None:
    """Light and dark: the filter form, the rows, old and new values in the scheme's colours;
    screenshotted (module_tmp/audit-<scheme>.png)."""
    dark = scheme == "dark"
    with signed_in_page(site, "admin", scheme) as page:
        page.goto(f"{site.url}/audit")
        page.select_option("select[name=origin]", "chat")
        page.click("form.filters button")
        page.wait_for_url("**/audit?*origin=chat*")
        assert page.locator("tr[id^=entry-]").count() >= 2
        old = page.eval_on_selector(".changes del", "e => getComputedStyle(e).color")
        new = page.eval_on_selector(".changes ins", "e => getComputedStyle(e).color")
        assert (old, new) == (OLD_VALUE[dark], NEW_VALUE[dark])
        page.goto(f"{site.url}/audit")
        shot = module_tmp / f"audit-{scheme}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000
