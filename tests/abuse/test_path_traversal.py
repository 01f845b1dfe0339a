"""Path traversal through a group folder or a jid, on every surface that takes one (the CLI,
gated's API, dashd's URLs): refused, or — for jids, which are never used as paths — kept as
text while the files stay inside the validated group folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

BAD_FOLDERS = [
    "../evil",
    "..",
    ".",
    "/etc",
    "/tmp/evil",
    "a/../../evil",
    "a/b",
    "a\\..\\evil",
    "\u2024\u2024",  # one-dot leaders
    "\uff0e\uff0e",  # fullwidth full stops
    "..\u2215evil",  # division slash
    "~root",
    "evil\n",
    " evil",
]
# The same, as a URL path segment would carry it (percent-encoded where needed).
BAD_SEGMENTS = [
    "..%2Fevil",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "a%00b",
    "%E2%80%A4%E2%80%A4",
    "%EF%BC%8E%EF%BC%8E",
    "..%5Cevil",
    "%2Fetc%2Fpasswd",
]
PASSWORD = "traversal-password-1"


def files_outside(root: Path, groups: Path) -> list[Path]:
    """Every path named like an escape attempt anywhere under the system's root, outside groups."""
    return [p for p in root.rglob("*evil*") if groups not in p.parents]


@pytest.mark.parametrize("folder", BAD_FOLDERS)
def test_cli_refuses_a_traversing_group_folder(abuse_system: Any, folder: str) -> None:
    s = abuse_system
    done = s.cli("group", "add", "abuse:trav", folder, check=False)
    assert done.returncode != 0
    assert "folder" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert not s.query("SELECT 1 FROM registered_groups WHERE folder = ?", folder)
    assert not files_outside(s.root, s.root / "groups")


@pytest.mark.parametrize("folder", ["../evil", "/etc", "\u2024\u2024"])
def test_cli_refuses_a_traversing_folder_for_users_and_tasks(
    abuse_system: Any, folder: str
) -> None:
    s = abuse_system
    done = s.cli(
        "user",
        "add",
        "travuser",
        "--group",
        folder,
        "--password-stdin",
        input=PASSWORD + "\n",
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert not s.query("SELECT 1 FROM auth_users WHERE username = 'travuser'")


def test_a_traversing_jid_is_only_text(abuse_system: Any, abuse_channel: Any) -> None:
    """Jids are never paths: a chat named like a path is answered in its validated folder."""
    s = abuse_system
    jid = "abuse:../../evil"
    s.cli("group", "add", jid, "travok")
    abuse_channel.post(jid, "t1", "hello")
    s.wait_for(lambda: "echo: hello" in abuse_channel.texts(jid), 30, "the answer")
    assert not files_outside(s.root, s.root / "groups")
    assert (s.root / "groups" / "travok").is_dir() or not (s.root / "groups").exists()


@pytest.mark.parametrize(
    "jid", ["abuse:a\x00b", "abuse:\x1b[2J", "../abuse", "/etc/passwd", "abuse:" + "x" * 600]
)
def test_gated_refuses_malformed_jids(abuse_system: Any, abuse_channel: Any, jid: str) -> None:
    before = abuse_system.query("SELECT COUNT(*) FROM messages")[0][0]
    resp = httpx.post(
        f"{abuse_system.gated_url}/v1/messages",
        headers={"Authorization": f"Bearer {abuse_channel.token}"},
        json={"chat_jid": jid, "id": "x", "content": "hi"},
        timeout=10,
    )
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()["field"] == "chat_jid"
    assert not abuse_system.query("SELECT 1 FROM messages WHERE chat_jid = ?", jid)
    assert abuse_system.query("SELECT COUNT(*) FROM messages")[0][0] >= before


@pytest.mark.parametrize("name", ["../evil", "/etc", "a/b", "\u2024\u2024", "a\x00b"])
def test_gated_refuses_a_traversing_channel_name(abuse_system: Any, name: str) -> None:
    resp = httpx.post(
        f"{abuse_system.gated_url}/v1/channels/register",
        headers={"Authorization": f"Bearer {abuse_system.env['SWITCHBOARD_CHANNEL_SECRET']}"},
        json={"name": name, "url": "http://127.0.0.1:9/"},
        timeout=10,
    )
    assert 400 <= resp.status_code < 500, resp.text
    assert not abuse_system.query("SELECT 1 FROM channels WHERE name = ?", name)


@pytest.fixture(scope="module")
def web(abuse_system: Any) -> Any:
    abuse_system.cli("user", "add", "travadmin", "--password-stdin", input=PASSWORD + "\n")
    with abuse_system.dashboard("travadmin", PASSWORD) as client:
        yield client


@pytest.mark.parametrize("segment", BAD_SEGMENTS)
@pytest.mark.parametrize("prefix", ["/web/", "/web/{}/since?after=0", "/chats/", "/static/"])
def test_dashd_urls_refuse_traversal(web: Any, prefix: str, segment: str) -> None:
    url = prefix.format(segment) if "{}" in prefix else prefix + segment
    resp = web.get(url)
    assert resp.status_code in (400, 404), (url, resp.status_code, resp.text[:300])
    assert "root:" not in resp.text  # no /etc/passwd
    assert "import " not in resp.text  # no source file


@pytest.mark.parametrize("segment", BAD_SEGMENTS[:4])
def test_dashd_web_chat_post_to_a_traversing_folder_stores_nothing(
    abuse_system: Any, web: Any, csrf: Any, segment: str
) -> None:
    token = csrf(web.get("/").text)
    before = abuse_system.query("SELECT COUNT(*) FROM messages WHERE source = 'web'")[0][0]
    resp = web.post(f"/web/{segment}", data={"csrf": token, "text": "x"})
    assert resp.status_code in (400, 403, 404), (segment, resp.status_code)
    after = abuse_system.query("SELECT COUNT(*) FROM messages WHERE source = 'web'")[0][0]
    assert after == before
