"""Oversized input on every surface (gated's API, dashd's forms and URLs, the CLI): a 4xx or a
one-line error naming the field, never a 5xx or a traceback, and nothing stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

PASSWORD = "oversized-password-1"
MB = 1024 * 1024


def count(s: Any, sql: str, *params: Any) -> int:
    return int(s.query(sql, *params)[0][0])


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("content", {"chat_jid": "abuse:big", "id": "b1", "content": "x" * 210_000}),
        ("body", {"chat_jid": "abuse:big", "id": "b2", "content": "x" * (2 * MB)}),
        ("id", {"chat_jid": "abuse:big", "id": "i" * 5000, "content": "x"}),
        ("sender", {"chat_jid": "abuse:big", "id": "b3", "content": "x", "sender": "s" * 5000}),
        (
            "attachments",
            {
                "chat_jid": "abuse:big",
                "id": "b4",
                "content": "x",
                "attachments": [{"name": "a" * 100}] * 1000,
            },
        ),
    ],
)
def test_gated_refuses_oversized_messages(
    abuse_system: Any, abuse_channel: Any, field: str, body: dict[str, Any]
) -> None:
    resp = httpx.post(
        f"{abuse_system.gated_url}/v1/messages",
        headers={"Authorization": f"Bearer {abuse_channel.token}"},
        json=body,
        timeout=30,
    )
    assert 400 <= resp.status_code < 500, (field, resp.status_code, resp.text[:300])
    assert not abuse_system.query("SELECT 1 FROM messages WHERE chat_jid = 'abuse:big'")


def test_gated_refuses_an_oversized_registration(abuse_system: Any) -> None:
    resp = httpx.post(
        f"{abuse_system.gated_url}/v1/channels/register",
        headers={"Authorization": f"Bearer {abuse_system.env['SWITCHBOARD_CHANNEL_SECRET']}"},
        json={"name": "big", "url": "http://127.0.0.1:9/" + "p" * 100_000},
        timeout=30,
    )
    assert 400 <= resp.status_code < 500, resp.text[:300]
    assert not abuse_system.query("SELECT 1 FROM channels WHERE name = 'big'")


def test_gated_refuses_an_oversized_header(abuse_system: Any) -> None:
    try:
        resp = httpx.post(
            f"{abuse_system.gated_url}/v1/messages",
            headers={"Authorization": "Bearer " + "t" * 200_000},
            json={"chat_jid": "abuse:big", "id": "h", "content": "x"},
            timeout=30,
        )
    except (httpx.RemoteProtocolError, httpx.ReadError):
        return  # the server closed the connection on the header: refused
    assert 400 <= resp.status_code < 500, resp.text[:300]


@pytest.fixture(scope="module")
def web(abuse_system: Any) -> Any:
    abuse_system.cli("group", "add", "web:bigweb", "bigweb")
    abuse_system.cli("user", "add", "bigadmin", "--password-stdin", input=PASSWORD + "\n")
    with abuse_system.dashboard("bigadmin", PASSWORD) as client:
        yield client


def test_dashd_login_with_huge_credentials_is_refused(abuse_system: Any, csrf: Any) -> None:
    with httpx.Client(base_url=abuse_system.dashd_url, timeout=30) as anon:
        token = csrf(anon.get("/login").text)
        resp = anon.post(
            "/login",
            data={"csrf": token, "next": "/", "username": "u" * MB, "password": "p" * MB},
        )
        assert 400 <= resp.status_code < 500 or resp.status_code == 200, resp.status_code
        assert anon.get("/", follow_redirects=False).status_code in (302, 303)  # not logged in


def test_dashd_web_chat_refuses_a_huge_message(abuse_system: Any, web: Any, csrf: Any) -> None:
    token = csrf(web.get("/web/bigweb").text)
    resp = web.post("/web/bigweb", data={"csrf": token, "text": "x" * (3 * MB)})
    assert 400 <= resp.status_code < 500, resp.status_code
    assert count(abuse_system, "SELECT COUNT(*) FROM messages WHERE chat_jid = 'web:bigweb'") == 0


def test_dashd_search_and_urls_with_huge_values_are_not_5xx(web: Any) -> None:
    for url in (
        "/search?q=" + "q" * 30_000,
        "/chats/abuse:" + "j" * 30_000,
        "/web/bigweb/since?after=" + "9" * 5000,
        "/tasks/" + "9" * 400,
    ):
        try:
            resp = web.get(url)
        except httpx.RemoteProtocolError:
            continue  # the server closed the connection on the request line: refused
        assert resp.status_code < 500, (url[:60], resp.status_code)


@pytest.mark.parametrize(
    ("args", "stdin", "field"),
    [
        (["group", "add", "web:big", "big", "--name", "n" * 20_000], None, "name"),
        (["group", "add", "web:" + "j" * 20_000, "big"], None, "jid"),
        (
            [
                "task",
                "add",
                "--chat",
                "web:bigweb",
                "--cron",
                "* * * * *",
                "--prompt",
                "p" * 120_000,
            ],
            None,
            "prompt",
        ),
        (["user", "add", "biguser", "--password-stdin"], "p" * MB + "\n", "password"),
    ],
)
def test_cli_refuses_oversized_arguments_with_a_clear_error(
    abuse_system: Any, args: list[str], stdin: str | None, field: str
) -> None:
    before = count(abuse_system, "SELECT COUNT(*) FROM messages")
    done = abuse_system.cli(*args, input=stdin, check=False)
    assert done.returncode != 0, done.stdout[-300:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert field in done.stderr.lower() or "too long" in done.stderr.lower(), done.stderr[-500:]
    assert count(abuse_system, "SELECT COUNT(*) FROM messages") == before
