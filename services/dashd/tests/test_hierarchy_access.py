"""Parent folders on the dashboard: a user limited to a parent folder sees its children's chats
and pages too, a user limited to a child never sees its parent's; the groups page shows the
tree, inherited settings and an inherited persona (escaped)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import store
from dashd.users import add_user
from dashd_harness import PASSWORD, Server, open_db, signed_in, start_dashd
from store.hierarchy import set_folder_parent

ORG_SECRET = "ORG-ONLY-SECRET"
PERSONA = "# Org\nAnswer for the org <script>alert(1)</script>\n"


def seed(conn: sqlite3.Connection, groups: Path) -> None:
    """org > team > squad, and an unrelated folder other; each chat has one message."""
    for folder, mark in (
        ("org", ORG_SECRET),
        ("team", "team-visible"),
        ("squad", "squad-visible"),
        ("other", "other-hidden"),
    ):
        store.register_group(conn, f"tg:{folder}-chat", folder, name=f"{mark} chat")
        store.put_message(
            conn,
            store.NewMessage(
                id=f"{folder}-1", chat_jid=f"tg:{folder}-chat", content=f"{mark} message"
            ),
        )
        (groups / folder).mkdir(parents=True, exist_ok=True)
    set_folder_parent(conn, "team", "org")
    set_folder_parent(conn, "squad", "team")
    store.update_folder_settings(conn, "org", {"command": "org-agent", "env.ORG_NOTE": "x"}, [])
    (groups / "org" / "CLAUDE.md").write_text(PERSONA)
    add_user(conn, "boss", PASSWORD, ["org"])
    add_user(conn, "member", PASSWORD, ["team"])


@pytest.fixture(scope="module")
def server(db: Path, module_tmp: Path) -> Iterator[Server]:
    conn = open_db(db)
    seed(conn, module_tmp / "groups")
    conn.close()
    srv = start_dashd(db, module_tmp)
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def boss(server: Server) -> Iterator[httpx.Client]:
    client = signed_in(server, "boss")
    yield client
    client.close()


@pytest.fixture(scope="module")
def member(server: Server) -> Iterator[httpx.Client]:
    client = signed_in(server, "member")
    yield client
    client.close()


def test_a_parents_user_sees_the_children_and_grandchildren(boss: httpx.Client) -> None:
    chats = boss.get("/chats").text
    for folder in ("org", "team", "squad"):
        assert f"tg:{folder}-chat" in chats
    assert "tg:other-chat" not in chats
    for path in ("/chats/tg:team-chat", "/chats/tg:squad-chat", "/web/team", "/web/squad"):
        assert boss.get(path).status_code == 200, path
    assert "squad-visible message" in boss.get("/chats/tg:squad-chat").text
    assert boss.get("/sessions?folder=team").status_code == 200
    assert boss.get("/chats/tg:other-chat").status_code == 404


def test_a_childs_user_never_sees_the_parent(member: httpx.Client) -> None:
    for path in ("/", "/groups", "/chats", "/sessions", "/tasks", "/search?q=message"):
        r = member.get(path)
        assert r.status_code == 200, path
        assert ORG_SECRET not in r.text, f"{path} leaked the parent's data"
        assert "tg:org-chat" not in r.text, f"{path} leaked the parent's chat"
    assert "tg:squad-chat" in member.get("/chats").text  # its own child, though
    for path in ("/chats/tg:org-chat", "/web/org", "/sessions?folder=org"):
        r = member.get(path)
        assert r.status_code in (403, 404), f"{path} gave {r.status_code}"
        assert ORG_SECRET not in r.text


def test_the_groups_page_shows_the_tree_and_where_settings_come_from(
    boss: httpx.Client,
) -> None:
    page = boss.get("/groups").text
    rows = [line for line in page.splitlines() if 'href="/sessions?folder=' in line]
    assert [r.split("folder=")[1].split('"')[0] for r in rows] == ["org", "team", "squad"]
    assert 'class="tree-0"' in rows[0]
    assert 'class="tree-1"' in rows[1]
    assert 'class="tree-2"' in rows[2]
    assert "child of org" in page
    assert "inherited from org" in page  # team's and squad's command and env.ORG_NOTE
    assert "Persona (inherited from org)" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
