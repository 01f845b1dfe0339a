"""Test harness for dashd: a real db file, a real dashd process on a free port, signed-in
HTTP clients and chromium pages (imported by the tests; conftest.py puts this directory on
sys.path)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import store
from dashd.migrations import MIGRATIONS
from onbod.migrations import MIGRATIONS as ONBOD
from timed.migrations import MIGRATIONS as TIMED

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
START_DEADLINE_S = 30.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "correct horse battery"
# For a browser page (Playwright's page.evaluate): note each row added to #messages, by its
# data-seq, with when it appeared (wall clock, ms) in window.__seen.
OBSERVE_JS = """() => {
  window.__seen = {};
  new MutationObserver((records) => {
    const now = Date.now();
    for (const r of records) for (const n of r.addedNodes)
      if (n.dataset && n.dataset.seq) window.__seen[n.dataset.seq] = now;
  }).observe(document.getElementById("messages"), { childList: true });
  return true;
}"""


def open_db(path: Path, *, owners: bool = False) -> sqlite3.Connection:
    """The store with dashd's schema; with `owners`, timed's and onbod's too (the pages that
    act through them: tasks, onboarding)."""
    conn = store.open(path)
    store.migrate_service(conn, "dashd", MIGRATIONS)
    if owners:
        store.migrate_service(conn, "timed", TIMED)
        store.migrate_service(conn, "onbod", ONBOD)
    return conn


@dataclass
class Server:
    """A running dashd process and where it listens."""

    proc: subprocess.Popen[bytes]
    url: str
    db: Path
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=10)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


def start_dashd(db: Path, tmp: Path, *extra: str) -> Server:
    """Start `python -m dashd.main` on 127.0.0.1:0 and read its port back from its heartbeat."""
    log = tmp / f"dashd-{time.monotonic_ns()}.log"
    conn = open_db(db)
    before = conn.execute("SELECT pid FROM daemons WHERE name = 'dashd'").fetchone()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dashd.main",
                "--db",
                str(db),
                "--listen",
                "127.0.0.1:0",
                "--refresh-reuse-grace",
                "0",
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SWITCHBOARD_GROUPS_DIR": str(tmp / "groups")},
        )
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT pid, info, stopped_at FROM daemons WHERE name = 'dashd'"
        ).fetchone()
        if row and row["pid"] == proc.pid and (before is None or before["pid"] != proc.pid):
            port = json.loads(row["info"])["listen"].rsplit(":", 1)[1]
            conn.close()
            return Server(proc, f"http://127.0.0.1:{port}", db, log)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"dashd did not start: {log.read_text()[-2000:]}")


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    form = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf": csrf_of(form.text), "next": "/"},
    )


def signed_in(server: Server, username: str) -> httpx.Client:
    client = server.client()
    r = login(client, username)
    assert r.status_code == 303, r.text[:500]
    return client


def token_for(client: httpx.Client, path: str = "/") -> str:
    """A CSRF token valid for this client's session (read from a page it can open)."""
    return csrf_of(client.get(path).text)


def set_cookie(client: httpx.Client, name: str, value: str | None) -> None:
    """Replace (or with None remove) one cookie in a client's jar, keeping the others."""
    kept = {k: v for k, v in client.cookies.items() if k != name}
    client.cookies.clear()
    for k, v in kept.items():
        client.cookies.set(k, v, domain="127.0.0.1")
    if value is not None:
        client.cookies.set(name, value, domain="127.0.0.1")


@contextmanager
def signed_in_page(server: Server, username: str, scheme: str) -> Iterator[Any]:
    """A chromium page (Playwright, Debian's chromium) in the light or dark `scheme`, 1280 px
    wide, signed in as `username`; skipped without Playwright."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(f"{server.url}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("form button")
        try:
            yield page
        finally:
            browser.close()
