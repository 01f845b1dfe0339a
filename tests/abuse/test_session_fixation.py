"""Session fixation against dashd: cookies planted before login are never adopted — logging in
issues fresh tokens, and a planted (or an attacker's own) token never carries the victim in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

VICTIM, VICTIM_PW = "fixvictim", "victim-password-1"
ATTACKER, ATTACKER_PW = "fixattacker", "attacker-password-1"


@pytest.fixture(scope="module")
def users(abuse_system: Any) -> None:
    abuse_system.cli("user", "add", VICTIM, "--password-stdin", input=VICTIM_PW + "\n")
    abuse_system.cli("user", "add", ATTACKER, "--password-stdin", input=ATTACKER_PW + "\n")


def jar(values: dict[str, str | None]) -> httpx.Cookies:
    """Cookies as the browser would hold them for dashd's host (so a new one replaces them)."""
    cookies = httpx.Cookies()
    for name, value in values.items():
        cookies.set(name, value or "", domain="127.0.0.1", path="/")
    return cookies


def login(client: httpx.Client, csrf: Any, username: str, password: str) -> httpx.Response:
    token = csrf(client.get("/login").text)
    data = {"csrf": token, "next": "/", "username": username, "password": password}
    return client.post("/login", data=data)


def test_login_replaces_planted_session_cookies(abuse_system: Any, users: None, csrf: Any) -> None:
    planted = {"sb_access": "planted-access", "sb_refresh": "planted-refresh"}
    with httpx.Client(base_url=abuse_system.dashd_url, timeout=15, cookies=jar(planted)) as victim:
        resp = login(victim, csrf, VICTIM, VICTIM_PW)
        assert resp.status_code in (302, 303)
        issued = {c: resp.cookies.get(c) for c in planted}
        assert all(issued.values()), resp.headers.get_list("set-cookie")
        assert issued["sb_access"] != planted["sb_access"]
        assert issued["sb_refresh"] != planted["sb_refresh"]
    with httpx.Client(
        base_url=abuse_system.dashd_url, timeout=15, cookies=jar(planted)
    ) as attacker:
        assert attacker.get("/", follow_redirects=False).status_code in (302, 303)


def test_an_attackers_own_session_planted_on_the_victim_never_becomes_the_victims(
    abuse_system: Any, users: None, csrf: Any
) -> None:
    with httpx.Client(base_url=abuse_system.dashd_url, timeout=15) as attacker:
        assert login(attacker, csrf, ATTACKER, ATTACKER_PW).status_code in (302, 303)
        stolen = {c: attacker.cookies.get(c) for c in ("sb_access", "sb_refresh")}
        with httpx.Client(
            base_url=abuse_system.dashd_url, timeout=15, cookies=jar(stolen)
        ) as victim:
            # The planted session shows the attacker's name; the victim logs out and in.
            page = victim.get("/")
            assert ATTACKER in page.text
            victim.post("/logout", data={"csrf": csrf(page.text)})
            assert login(victim, csrf, VICTIM, VICTIM_PW).status_code in (302, 303)
            fresh = {c: victim.cookies.get(c) for c in stolen}
            assert fresh["sb_refresh"] != stolen["sb_refresh"]
            assert VICTIM in victim.get("/").text
        # The attacker's cookies never name the victim who logged in after them.
        page = attacker.get("/", follow_redirects=False)
        assert VICTIM not in page.text
