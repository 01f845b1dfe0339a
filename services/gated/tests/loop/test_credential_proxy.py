"""The credential proxy: a granted secret's header reaches the upstream (a TLS stand-in of
Anthropic's API) while the agent sees only a base URL; unknown paths, wrong tokens and
untrusted certificates get nothing; `--expose env` hands the raw value over, warned."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import store
from credproxy_support import ApiStandin, Certs, make_certs, request_headers, start_api
from gated import secret_store
from gated.credproxy import CredentialProxy, Route, match_route
from gated.main import SCHEMAS
from gated.sandbox import probe_bwrap
from gated_loop_support import put, reply_texts, runs, start_gated, stop_gated, wait_for

CANARY = "sk-ant-canary-7f3c9e21d0b84a56"
STANDINS = Path(__file__).parent / "standins"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def api(tmp_path: Path, certs: Certs) -> Iterator[ApiStandin]:
    server = start_api(tmp_path, certs)
    yield server
    server.stop()


def set_secret(db: Path, name: str, value: str, **kw: str) -> None:
    conn = store.open(db, SCHEMAS)
    try:
        settings = secret_store.secret_settings(name, **kw)
        secret_store.set_secret(conn, secret_store.key_file_for(db), settings, value)
    finally:
        conn.close()


# -- the proxy on its own -------------------------------------------------------------------


ROUTES = {"anthropic": Route("anthropic", httpx.URL("https://x.test"), "x-api-key", "v")}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (b"/T/anthropic/v1/messages?beta=true", b"/v1/messages?beta=true"),
        (b"/T/anthropic", b"/"),
        (b"/T/anthropic/", b"/"),
        (b"/T/anthropic?x=1", b"/?x=1"),
        (b"/T/other/v1/messages", None),
        (b"/U/anthropic/v1/messages", None),
        (b"/anthropic/v1/messages", None),
        (b"/T/anthropic@evil.test/v1", None),
        (b"/Tanthropic/v1", None),
        (b"http://evil.test/T/anthropic/v1", None),
    ],
)
def test_only_the_runs_token_and_a_granted_name_match(
    target: bytes, expected: bytes | None
) -> None:
    found = match_route(target, "/T", ROUTES)
    assert (found[1] if found else None) == expected


@pytest.fixture
def proxy_db(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    db = tmp_path / "messages.db"
    conn = store.open(db, SCHEMAS)
    yield db, conn
    conn.close()


def test_the_proxy_adds_the_header_strips_forged_ones_and_streams_back(
    proxy_db: tuple[Path, sqlite3.Connection], api: ApiStandin, certs: Certs
) -> None:
    db, conn = proxy_db
    set_secret(db, "anthropic", CANARY, upstream=api.url)
    proxy = CredentialProxy(secret_store.key_file_for(db), None, str(certs.ca))
    try:
        run = proxy.open_run(conn, 1, "demo", ["anthropic"])
        assert run is not None
        assert CANARY not in json.dumps(run.env)
        base = run.env["ANTHROPIC_BASE_URL"]
        assert base.startswith("http://127.0.0.1:")
        with httpx.stream(
            "POST",
            base + "/v1/messages",
            headers={"x-api-key": "forged", "authorization": "Bearer forged"},
            json={"stream": True},
        ) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"] == "text/event-stream"
            events = [line for line in resp.iter_lines() if line.startswith("event: ")]
        assert events == [
            "event: message_start",
            "event: content_block_delta",
            "event: content_block_delta",
            "event: message_stop",
        ]
        # The same through the run's unix socket (what the sandbox binds in), no token needed.
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(run.socket_path))) as client:
            assert client.post("http://proxy/anthropic/v1/messages", json={}).status_code == 200
            assert client.post("http://proxy/other/v1/messages").status_code == 404
        # Over TCP the path token is required: without it (another local process guessing the
        # port) nothing is forwarded.
        port_only = base.rsplit("/", 2)[0]
        assert httpx.post(port_only + "/anthropic/v1/messages").status_code == 404
        assert (
            httpx.post(base.replace(run.token, "x" * len(run.token)) + "/v1/messages").status_code
            == 404
        )
        proxy.close_run(run)
        assert not run.run_dir.exists()
        with pytest.raises(httpx.ConnectError):
            httpx.post(base + "/v1/messages")
    finally:
        proxy.stop()
    sent = api.requests()
    assert len(sent) == 2
    for entry in sent:
        headers = request_headers(entry)
        assert headers["x-api-key"] == [CANARY]
        assert "authorization" not in headers
        assert headers["host"] == [f"127.0.0.1:{api.port}"]
        assert entry["path"] == "/v1/messages"


def test_an_upstream_whose_certificate_is_not_trusted_gets_nothing(
    proxy_db: tuple[Path, sqlite3.Connection], api: ApiStandin
) -> None:
    db, conn = proxy_db
    set_secret(db, "anthropic", CANARY, upstream=api.url)
    proxy = CredentialProxy(secret_store.key_file_for(db), None, None)  # no test CA
    try:
        run = proxy.open_run(conn, 2, "demo", ["anthropic"])
        assert run is not None
        resp = httpx.post(run.env["ANTHROPIC_BASE_URL"] + "/v1/messages", json={})
        assert resp.status_code == 502
        proxy.close_run(run)
    finally:
        proxy.stop()
    assert api.requests() == []


def test_env_exposure_hands_the_raw_value_and_is_warned(
    proxy_db: tuple[Path, sqlite3.Connection], caplog: pytest.LogCaptureFixture
) -> None:
    db, conn = proxy_db
    set_secret(db, "github-token", "ghp-raw-value", expose="env")
    proxy = CredentialProxy(secret_store.key_file_for(db), None, None)
    try:
        with caplog.at_level(logging.WARNING, logger="gated.credproxy"):
            run = proxy.open_run(conn, 3, "demo", ["github-token", "no-such-secret"])
        assert run is not None
        assert run.env == {"GITHUB_TOKEN": "ghp-raw-value"}
        assert "secret exposed in the agent's environment folder=demo secret=github-token" in (
            caplog.text
        )
        assert "granted secret does not exist folder=demo secret=no-such-secret" in caplog.text
        assert "ghp-raw-value" not in caplog.text
        proxy.close_run(run)
    finally:
        proxy.stop()


def test_a_run_without_grants_gets_no_proxy(proxy_db: tuple[Path, sqlite3.Connection]) -> None:
    db, conn = proxy_db
    proxy = CredentialProxy(secret_store.key_file_for(db), None, None)
    assert proxy.open_run(conn, 4, "demo", []) is None
    assert proxy.open_run(conn, 4, "demo", ["missing"]) is None
    assert not secret_store.key_file_for(db).exists()  # nothing needed it: no key made
    proxy.stop()


# -- through gated and switchboard-agent-claude -----------------------------------------------


@pytest.fixture(params=["none", "bwrap"])
def sandbox(request: pytest.FixtureRequest) -> str:
    """Unconfined (the proxy's loopback port) and confined (its socket through the forwarder)."""
    mode: str = request.param
    if mode == "bwrap" and not (probe := probe_bwrap("bwrap")).works:
        pytest.skip(f"bubblewrap cannot run here: {probe.reason}")
    return mode


@pytest.fixture
def data_dir(tmp_path: Path, sandbox: str) -> Iterator[Path]:
    """Where the db lives: for a confined run outside /tmp, which the sandbox hides."""
    if sandbox == "none":
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="switchboard-credproxy-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_claude_reaches_the_api_through_the_proxy_and_never_sees_the_secret(
    data_dir: Path, sandbox: str, api: ApiStandin, certs: Certs
) -> None:
    tmp_path = data_dir
    db = tmp_path / "messages.db"
    set_secret(db, "anthropic", CANARY, upstream=api.url, header="x-api-key")
    # In the folder: a confined agent sees nothing else of the host's files.
    folder = db.parent / "groups" / "proxied"
    folder.mkdir(parents=True)
    claude = folder / "claude"
    claude.write_text(f"#!{sys.executable}\n" + (STANDINS / "claude_calls_api.py").read_text())
    claude.chmod(0o755)
    conn = store.open(db, SCHEMAS)
    store.register_group(
        conn,
        "web:proxied",
        "proxied",
        agent_config={
            "command": "switchboard-agent-claude",
            "secrets": ["anthropic"],
            "env": {"SWITCHBOARD_CLAUDE_BIN": str(claude)},
        },
    )
    g = start_gated(db, "--proxy-ca-file", str(certs.ca), env={"SWITCHBOARD_SANDBOX": sandbox})
    try:
        put(conn, "web:proxied", "hello claude")
        wait_for(lambda: reply_texts(conn, "web:proxied"), what="the reply")
        assert reply_texts(conn, "web:proxied") == ["streamed hello"]
        wait_for(lambda: runs(conn, "proxied")[0]["result"], what="the run's end")
        assert [r["result"] for r in runs(conn, "proxied")] == ["ok"]
    finally:
        assert stop_gated(g) == 0, g.log_text()
    # The upstream got the real value in the configured header, and no forged credential.
    (entry,) = api.requests()
    headers = request_headers(entry)
    assert headers["x-api-key"] == [CANARY]
    assert "authorization" not in headers
    assert "hello claude" in entry["body"]
    # The agent saw a base URL and a placeholder key: in its environment, /proc, argv, its
    # parent's environment and command line, and every file in its folder -- never the value.
    seen = json.loads((folder / "seen.json").read_text())
    assert seen["environ"]["ANTHROPIC_BASE_URL"].startswith("http://127.0.0.1:")
    assert f"confined={sandbox == 'bwrap'}" in g.log_text()
    if sandbox == "bwrap":
        # The forwarder's port on the sandbox's own loopback, the socket's path inside.
        assert seen["environ"]["ANTHROPIC_BASE_URL"].endswith("/anthropic")
        assert seen["environ"]["SWITCHBOARD_PROXY_SOCKET"] == "/run/switchboard/proxy.sock"
        # gated opened no loopback port on the host for it.
        assert re.search(
            r"credential proxy open folder=proxied run=\d+ secrets=anthropic port=0$",
            g.log_text(),
            re.M,
        )
    assert seen["content_type"] == "text/event-stream"
    for path in folder.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    # Nor in any message, the database file, or gated's log (DEBUG level).
    assert (
        conn.execute(
            "SELECT COUNT(*) FROM messages WHERE content LIKE ?", (f"%{CANARY}%",)
        ).fetchone()[0]
        == 0
    )
    conn.close()
    for path in tmp_path.glob("messages.db*"):
        assert CANARY.encode() not in path.read_bytes(), path
    log_text = g.log_text()
    assert "credential proxy folder=proxied secret=anthropic method=POST path=/v1/messages" in (
        log_text
    )
    assert CANARY not in log_text
    assert os.environ.get("ANTHROPIC_API_KEY") != CANARY


def test_a_run_whose_key_file_is_unsafe_fails_clearly_and_nothing_runs(
    tmp_path: Path, api: ApiStandin, certs: Certs
) -> None:
    db = tmp_path / "messages.db"
    set_secret(db, "anthropic", CANARY, upstream=api.url)
    secret_store.key_file_for(db).chmod(0o644)
    conn = store.open(db, SCHEMAS)
    marker = tmp_path / "agent-ran"
    store.register_group(
        conn,
        "web:unsafe",
        "unsafe",
        agent_config={"command": f"touch {marker}", "secrets": ["anthropic"]},
    )
    g = start_gated(db, "--proxy-ca-file", str(certs.ca))
    try:
        put(conn, "web:unsafe", "hi")
        wait_for(lambda: runs(conn, "unsafe") and runs(conn, "unsafe")[0]["ended_at"], what="run")
        first = runs(conn, "unsafe")[0]
        assert first["result"] == "error"
        assert "has mode 0644" in first["error"]
        assert not marker.exists()
    finally:
        assert stop_gated(g) == 0, g.log_text()
        conn.close()
