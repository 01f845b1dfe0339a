"""Login, rate limit, refresh rotation and reuse detection, logout, CSRF, persisted key."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
from dashd.users import add_user
from dashd_harness import (
    PASSWORD,
    Server,
    csrf_of,
    login,
    open_db,
    set_cookie,
    signed_in,
    start_dashd,
    token_for,
)


def test_login_with_the_right_password_opens_the_status_page(server: Server) -> None:
    client = server.client()
    r = login(client, "admin")
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    cookies = r.headers.get_list("set-cookie")
    access = next(c for c in cookies if c.startswith("sb_access="))
    assert "HttpOnly" in access
    assert "samesite=strict" in access.lower()
    assert "Secure" not in access
    page = client.get("/")
    assert page.status_code == 200
    assert "Signed in as <strong>admin</strong>" in page.text


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(server: Server) -> None:
    client = server.client()
    r = login(client, "admin", "wrong password")
    assert r.status_code == 401
    assert "Wrong username or password." in r.text
    assert not any(c.startswith("sb_access=") for c in r.headers.get_list("set-cookie"))
    assert login(client, "nobody-here", "whatever1").status_code == 401
    assert client.get("/").status_code == 303


def test_pages_redirect_to_login_and_back(server: Server) -> None:
    client = server.client()
    r = client.get("/chats?before=x")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fchats%3Fbefore%3Dx"
    htmx = client.get("/status/live", headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers["hx-redirect"].startswith("/login")
    form = client.get("/login?next=/groups").text
    r = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf": csrf_of(form), "next": "/groups"},
    )
    assert r.headers["location"] == "/groups"


def test_login_never_redirects_off_site(server: Server) -> None:
    client = server.client()
    form = client.get("/login").text
    r = client.post(
        "/login",
        data={
            "username": "admin",
            "password": PASSWORD,
            "csrf": csrf_of(form),
            "next": "//evil.example/x",
        },
    )
    assert r.headers["location"] == "/"


def test_five_failures_lock_that_ip_and_username_even_for_the_right_password(
    server: Server, conn: sqlite3.Connection
) -> None:
    add_user(conn, "locked", PASSWORD)
    client = server.client()
    for _ in range(5):
        assert login(client, "locked", "bad password").status_code == 401
    r = login(client, "locked", PASSWORD)
    assert r.status_code == 429
    assert "5 failed logins in 15 minutes" in r.text
    stored = conn.execute(
        "SELECT COUNT(*) FROM login_failures WHERE username = 'locked'"
    ).fetchone()[0]
    assert stored == 5
    # Another username from the same ip is not affected.
    assert login(client, "admin").status_code == 303


def test_expired_access_token_is_refreshed_with_a_rotated_refresh_token(
    server: Server, conn: sqlite3.Connection
) -> None:
    client = signed_in(server, "admin")
    old_refresh = client.cookies["sb_refresh"]
    key = conn.execute("SELECT value FROM dashd_secrets").fetchone()[0]
    claims = jwt.decode(client.cookies["sb_access"], key, algorithms=["HS256"])
    past = datetime.now(UTC) - timedelta(minutes=20)
    expired = jwt.encode({**claims, "iat": past, "exp": past + timedelta(minutes=15)}, key)
    set_cookie(client, "sb_access", expired)
    r = client.get("/")
    assert r.status_code == 200
    assert "Signed in as" in r.text
    assert client.cookies["sb_refresh"] != old_refresh
    new_claims = jwt.decode(client.cookies["sb_access"], key, algorithms=["HS256"])
    assert new_claims["sid"] == claims["sid"]
    assert new_claims["exp"] - new_claims["iat"] == 15 * 60
    rows = conn.execute(
        "SELECT used_at, revoked_at FROM auth_sessions WHERE family = ? ORDER BY id",
        (claims["sid"],),
    ).fetchall()
    assert [r["used_at"] is not None for r in rows] == [True, False]
    assert all(r["revoked_at"] is None for r in rows)


def test_reusing_an_old_refresh_token_revokes_the_whole_session(
    server: Server, conn: sqlite3.Connection
) -> None:
    client = signed_in(server, "admin")
    stolen = client.cookies["sb_refresh"]
    set_cookie(client, "sb_access", None)
    assert client.get("/").status_code == 200  # rotates: `stolen` is now spent
    thief = server.client()
    thief.cookies.set("sb_refresh", stolen)
    r = thief.get("/")
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    # The legitimate user's newer tokens died with the family.
    assert client.get("/").status_code == 303
    family = conn.execute("SELECT family FROM auth_sessions ORDER BY id DESC LIMIT 1").fetchone()[0]
    live = conn.execute(
        "SELECT COUNT(*) FROM auth_sessions WHERE family = ? AND revoked_at IS NULL", (family,)
    ).fetchone()[0]
    assert live == 0


def test_logout_revokes_the_session_at_once(server: Server) -> None:
    client = signed_in(server, "admin")
    access, refresh = client.cookies["sb_access"], client.cookies["sb_refresh"]
    r = client.post("/logout", data={"csrf": token_for(client)})
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")
    replay = server.client()
    replay.cookies.set("sb_access", access)
    replay.cookies.set("sb_refresh", refresh)
    assert replay.get("/").status_code == 303


def test_posts_without_a_valid_csrf_token_are_refused(server: Server) -> None:
    anonymous = server.client()
    anonymous.get("/login")
    r = anonymous.post("/login", data={"username": "admin", "password": PASSWORD})
    assert r.status_code == 403
    client = signed_in(server, "admin")
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", data={"csrf": "0" * 64}).status_code == 403
    other = signed_in(server, "admin")
    foreign = token_for(other)  # valid, but for another browser's session
    assert client.post("/logout", data={"csrf": foreign}).status_code == 403
    assert client.get("/").status_code == 200  # still signed in
    ok = client.post("/logout", headers={"X-CSRF-Token": token_for(client)})
    assert ok.status_code == 303


def test_sessions_key_and_failures_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    first = start_dashd(db, tmp_path)
    try:
        c = open_db(db)
        add_user(c, "keeper", PASSWORD)
        client = signed_in(first, "keeper")
        bad = first.client()
        for _ in range(5):
            login(bad, "keeper", "bad password")
    finally:
        assert first.stop() == 0
    # Restarted with --secure-cookies: old sessions still work, the lock still holds, and
    # every cookie is marked Secure (so this plain-http client must send them by hand).
    second = start_dashd(db, tmp_path, "--secure-cookies")
    try:
        again = httpx.Client(base_url=second.url, cookies=client.cookies, follow_redirects=False)
        set_cookie(again, "sb_access", None)
        refreshed = again.get("/")
        assert refreshed.status_code == 200
        session = [
            x
            for x in refreshed.headers.get_list("set-cookie")
            if x.startswith(("sb_access", "sb_refresh"))
        ]
        assert len(session) == 2
        assert all("; Secure" in x for x in session)
        form = second.client().get("/login")
        csrf_cookie = form.headers["set-cookie"]
        assert "; Secure" in csrf_cookie
        r = httpx.post(
            second.url + "/login",
            data={"username": "keeper", "password": PASSWORD, "csrf": csrf_of(form.text)},
            headers={"cookie": csrf_cookie.split(";")[0]},
        )
        assert r.status_code == 429
    finally:
        assert second.stop() == 0
