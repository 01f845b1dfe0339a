"""`user_groups` on every page: a user limited to one group never sees another group's data
(every route of the app is enumerated, so a new page cannot be missed), and gets 404 for it."""

from __future__ import annotations

import io
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import store
from dashd.app import routes
from dashd.users import add_user
from dashd_harness import PASSWORD, Server, open_db, signed_in, start_dashd, token_for
from gated.migrations import MIGRATIONS as GATED
from gated.tools import audit
from onbod.migrations import MIGRATIONS as ONBOD
from starlette.routing import Route
from store import blobs
from timed import api as timed
from timed.migrations import MIGRATIONS as TIMED

SECRET = "BETA-ONLY-SECRET"
PUBLIC_PATHS = {
    "/login",
    "/healthz",
    "/static/{name}",
    "/s/{token}",
    "/s/{token}/widget.js",
    "/s/{token}/events",  # a share visitor's own chat: test_share_live.py attacks it
}
OPERATOR_ONLY = {
    "/audit",
    "/charts",
    "/onboarding",
    "/users",
    "/routes",
    "/routes/{route_id:int}/delete",
    "/onboarding/approve",
    "/onboarding/reject",
    "/users/delete",
}


def seed(conn: sqlite3.Connection, groups_dir: Path) -> dict[str, str]:
    """Two groups, alpha and beta, each with chats, messages, routes, runs, a dead letter, a
    task; beta's rows all carry SECRET. Returns path parameters that point at beta."""
    store.migrate_service(conn, "timed", TIMED)
    store.migrate_service(conn, "onbod", ONBOD)
    store.migrate_service(conn, "gated", GATED)
    ids: dict[str, str] = {}
    for name in ("alpha", "beta"):
        mark = SECRET if name == "beta" else "alpha-visible"
        (groups_dir / name).mkdir(parents=True, exist_ok=True)
        (groups_dir / name / "CLAUDE.md").write_text(f"# {name}\n{mark} persona\n")
        store.register_group(conn, f"tg:{name}-chat", name, name=f"{mark} chat")
        store.register_group(conn, f"web:{name}", name)
        route = store.add_route(conn, f"tg:{name}-chat", "keyword", mark, name)
        for i in range(3):
            store.put_message(
                conn,
                store.NewMessage(
                    id=f"{name}-{i}",
                    chat_jid=f"tg:{name}-chat",
                    content=f"{mark} message {i}",
                    sender=f"{mark}-sender",
                ),
            )
        seq = store.store_outbound(conn, f"tg:{name}-chat", f"{mark} reply", group_folder=name)
        store.claim_outbound(conn, "test")
        store.mark_failed(conn, seq, f"{mark} delivery error", permanent=True)
        chat = store.WorkKey.chat(f"tg:{name}-chat")
        run = store.open_run(
            conn,
            store.NewRun(chat, name, "", chat.jid, 3, session_id=f"{mark}-session", sandbox="none"),
        )
        assert run is not None
        audit.record(
            conn,
            run_id=run,
            call_id="c1",
            tool="send_message",
            args={"text": f"{mark} tool call"},
            started_at=store.now_iso(),
            duration_ms=1.0,
            result={"seq": 1},
        )
        store.end_run(conn, run, "error", error=f"{mark} agent crashed")
        topic = store.WorkKey.task(name, f"{mark}-topic")
        store.open_run(conn, store.NewRun(topic, name, topic.topic, chat.jid, 3, sandbox="none"))
        store.set_session(conn, name, "", f"{mark}-session")
        for _ in range(3):
            store.note_run_failure(conn, f"tg:{name}-chat")
        task = timed.add_task(conn, chat_jid=f"tg:{name}-chat", prompt=f"{mark} task", every_s=3600)
        sha, size = blobs.put_blob(conn, io.BytesIO(f"<script>{mark} file</script>".encode()))
        entry = blobs.file_entry(f"{mark}.html", "text/html", size, sha)
        file_seq = store.store_outbound(
            conn, f"tg:{name}-chat", "a file", group_folder=name, attachments=[entry]
        )
        if name == "beta":
            ids = {
                "seq": str(file_seq),
                "n": "0",
                "jid": "tg:beta-chat",
                "folder": "beta",
                "task_id": str(task.id),
                "run_id": str(run),
                "route_id": str(route.id),
                "name": "style.css",
            }
    return ids


@pytest.fixture(scope="module")
def world(db: Path, module_tmp: Path) -> Iterator[tuple[Server, dict[str, str]]]:
    conn = open_db(db)
    beta = seed(conn, module_tmp / "groups")
    add_user(conn, "alice", PASSWORD, ["alpha"])
    conn.close()
    srv = start_dashd(db, module_tmp)
    yield srv, beta
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def alice(world: tuple[Server, dict[str, str]]) -> Iterator[httpx.Client]:
    """One signed-in session of the user limited to `alpha`, shared by this module's tests."""
    client = signed_in(world[0], "alice")
    yield client
    client.close()


def fill(path: str, params: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1).split(":")[0]
        assert name in params, f"route {path}: no test value for path parameter {name!r}"
        return params[name]

    return re.sub(r"\{([^}]+)\}", sub, path)


def get(client: httpx.Client, url: str) -> tuple[int, str]:
    """Status and text of a GET; of an event stream (200, endless) only its first chunk."""
    with client.stream("GET", url) as r:
        if r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"):
            return r.status_code, next(r.iter_text())
        return r.status_code, r.read().decode()


def page_routes() -> list[tuple[str, str]]:
    found = []
    for r in routes():
        assert isinstance(r, Route)
        for method in sorted((r.methods or set()) - {"HEAD"}):
            if r.path not in PUBLIC_PATHS:
                found.append((method, r.path))
    return found


def test_every_page_route_is_enumerated() -> None:
    paths = {p for _, p in page_routes()}
    assert {"/", "/chats", "/chats/{jid:path}", "/tasks/{task_id:int}", "/web/{folder}"} <= paths
    assert {"/web/{folder}/events", "/status/events"} <= paths


@pytest.mark.parametrize(("method", "path"), page_routes())
def test_a_restricted_user_never_sees_another_groups_data(
    world: tuple[Server, dict[str, str]], alice: httpx.Client, method: str, path: str
) -> None:
    srv, beta = world
    # Signing out would end the shared session the other cases use.
    client = signed_in(srv, "alice") if path == "/logout" else alice
    url = fill(path, beta)
    if method == "GET":
        queries = ["", "?q=message", "?folder=beta", "?before=999999"]
        for query in queries:
            status, text = get(client, url + query)
            assert SECRET not in text, f"GET {url}{query} leaked beta data"
            assert "tg:beta-chat" not in text, f"GET {url}{query} leaked beta's chat"
            if "{" in path or (query == "?folder=beta" and path == "/sessions"):
                assert status in (403, 404), f"GET {url}{query} gave {status}"
            elif path in OPERATOR_ONLY:
                assert status == 403
            else:
                assert status in (200, 400, 404), f"GET {url}{query}: {status}"
    else:
        data = {
            "csrf": token_for(client),
            "jid": "tg:beta-chat",
            "text": "hi",
            "type": "default",
            "target": "beta",
            "username": "admin",
        }
        r = client.post(url, data=data)
        assert r.status_code in (403, 404) or path == "/logout", f"POST {url}: {r.status_code}"


def test_restricted_lists_show_their_own_group(alice: httpx.Client) -> None:
    client = alice
    for page in ("/", "/groups", "/chats", "/sessions", "/tasks", "/search?q=alpha"):
        r = client.get(page)
        assert r.status_code == 200
        assert "alpha-visible" in r.text or "tg:alpha-chat" in r.text, page
    assert client.get("/chats/tg:alpha-chat").status_code == 200
    assert "alpha-visible message 2" in client.get("/chats/tg:alpha-chat").text


def test_another_groups_chat_is_404_not_its_data(alice: httpx.Client) -> None:
    client = alice
    r = client.get("/chats/tg:beta-chat")
    assert r.status_code == 404
    assert SECRET not in r.text
    assert client.get("/web/beta").status_code == 404


def test_a_restricted_user_cannot_act_on_another_groups_task(
    world: tuple[Server, dict[str, str]], alice: httpx.Client
) -> None:
    srv, beta = world
    client = alice
    r = client.post(f"/tasks/{beta['task_id']}/pause", data={"csrf": token_for(client)})
    assert r.status_code == 404
    conn = store.connect(srv.db)
    task = timed.get_task(conn, int(beta["task_id"]))
    assert task is not None
    assert task.status == "active"


def test_the_operator_sees_both_groups(world: tuple[Server, dict[str, str]]) -> None:
    srv, _ = world
    client = signed_in(srv, "admin")
    text = client.get("/chats").text
    assert "tg:alpha-chat" in text
    assert "tg:beta-chat" in text
    assert SECRET in client.get("/chats/tg:beta-chat").text


def test_an_agents_file_is_a_download_for_its_chats_viewers_only(
    world: tuple[Server, dict[str, str]], alice: httpx.Client
) -> None:
    srv, beta = world
    assert alice.get(f"/files/{beta['seq']}/0").status_code == 404
    client = signed_in(srv, "admin")
    chat = client.get("/chats/tg:beta-chat").text
    assert f'href="/files/{beta["seq"]}/0"' in chat
    r = client.get(f"/files/{beta['seq']}/0")
    assert r.status_code == 200
    # The agent named it .html and typed it text/html: it is still only ever a download.
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.content == f"<script>{SECRET} file</script>".encode()
    assert client.get(f"/files/{beta['seq']}/1").status_code == 404
