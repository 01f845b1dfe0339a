"""`switchboard group share FOLDER` as a user runs it (a real process on a real file): the URL
is printed once with its embed snippets, --rotate kills the old token, --revoke kills the
link, --allow-origin/--no-origins set the allowlist, and bad input is one line and exit 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import store
from store import share_links
from switchboard.schemas import open_all

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")
URL_RE = re.compile(r"^(http://[^/\s]+)/s/([A-Za-z0-9_-]{43})$", re.MULTILINE)


def share(db: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    return subprocess.run(
        [SWITCHBOARD, "group", "share", *args, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "messages.db"
    conn = open_all(path)
    store.register_group(conn, "web:demo", "demo")
    conn.close()
    return path


def token_of(out: str) -> tuple[str, str]:
    m = URL_RE.search(out)
    assert m, out
    return m.group(1), m.group(2)


def test_share_rotate_revoke(db: Path) -> None:
    first = share(db, "demo")
    assert first.returncode == 0, first.stderr
    base, token = token_of(first.stdout)
    assert base == "http://127.0.0.1:8080"
    assert f'<script src="{base}/s/{token}/widget.js" async></script>' in first.stdout
    assert f'<iframe src="{base}/s/{token}"' in first.stdout
    conn = store.connect(db)
    link = share_links.lookup(conn, token)
    assert link is not None
    assert link.folder == "demo"

    again = share(db, "demo")  # an existing link: its URL is not shown again (only a hash)
    assert again.returncode == 0, again.stderr
    assert token not in again.stdout
    assert URL_RE.search(again.stdout) is None
    assert "--rotate" in again.stdout

    rotated = share(db, "demo", "--rotate", "--base-url", "https://chat.example.com/")
    assert rotated.returncode == 0, rotated.stderr
    new_base, new = token_of(rotated.stdout.replace("https://", "http://"))
    assert new_base == "http://chat.example.com"
    assert new != token
    assert share_links.lookup(conn, token) is None
    assert share_links.lookup(conn, new) is not None

    revoked = share(db, "demo", "--revoke")
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in revoked.stdout
    assert share_links.lookup(conn, new) is None
    again_revoked = share(db, "demo", "--revoke")
    assert again_revoked.returncode == 2
    assert "has no share link" in again_revoked.stderr
    conn.close()


def test_listen_address_and_origins(db: Path) -> None:
    made = share(
        db,
        "demo",
        "--allow-origin",
        "https://example.com/",
        "--allow-origin",
        "http://127.0.0.1:9000",
        "--json",
        SWITCHBOARD_DASHD_LISTEN="10.0.0.5:8443",
    )
    assert made.returncode == 0, made.stderr
    data = json.loads(made.stdout)
    assert data["url"].startswith("http://10.0.0.5:8443/s/")
    assert data["frame_ancestors"] == ["https://example.com", "http://127.0.0.1:9000"]
    cleared = share(db, "demo", "--no-origins")
    assert cleared.returncode == 0, cleared.stderr
    assert "sites that may embed it: none" in cleared.stdout
    conn = store.connect(db)
    assert share_links.get_link(conn, "demo").frame_ancestors == ()  # type: ignore[union-attr]
    conn.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--allow-origin", "https://x.example/path"], "--allow-origin"),
        (["demo", "--revoke", "--rotate"], "--revoke"),
        (["nosuch"], "no group folder 'nosuch'"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(db: Path, args: list[str], message: str) -> None:
    result = share(db, *args)
    assert result.returncode == 2, result
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    conn = store.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM share_links").fetchone()[0] == 0
    conn.close()


def test_group_list_counts_share_link_visitors_instead_of_listing_them(db: Path) -> None:
    conn = store.connect(db)
    visitors = [share_links.visitor_jid("demo", share_links.new_visitor_id()) for _ in range(3)]
    for jid in visitors:
        store.register_group(conn, jid, "demo", name="share link visitor of demo")
    store.register_group(conn, "web:other", "other")
    conn.close()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    run = [SWITCHBOARD, "group", "list", "--db", str(db)]
    text = subprocess.run(run, capture_output=True, text=True, timeout=60, env=clean)
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0].split()[-1] == "visitors"
    rows = {line.split()[0]: line.split() for line in text.stdout.splitlines()[2:]}
    assert set(rows) == {"web:demo", "web:other"}  # no visitor chat listed
    assert rows["web:demo"][-1] == "3"
    as_json = subprocess.run(
        [*run, "--json"], capture_output=True, text=True, timeout=60, env=clean
    )
    listed = {g["jid"]: g["share_visitors"] for g in json.loads(as_json.stdout)}
    assert listed == {"web:demo": 3, "web:other": 0}
