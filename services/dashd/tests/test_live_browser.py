"""Live updates in a real browser (Playwright driving Debian's chromium) against a real dashd:
a stored reply shows within 100 ms, a streamed reply part by part with the typing indicator,
the missed replies once after dashd restarts (EventSource's own Last-Event-ID), the status page
following its stream, no CSP violation, and the page without JavaScript."""

from __future__ import annotations

import socket
import sqlite3
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import store
from dashd.users import add_user
from dashd_harness import OBSERVE_JS, PASSWORD, Server, open_db, start_dashd
from store.bus import WorkKey

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 10_000
JID = "web:demo"

if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
    pytestmark = pytest.mark.skip(reason="Debian's chromium (/usr/bin/chromium) is not installed")

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dashd:
    """One dashd on a fixed port, so it can be restarted under an open page."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = tmp / "browser-live.db"
        conn = open_db(self.db)
        add_user(conn, "admin", PASSWORD)
        conn.close()
        (tmp / "groups" / "demo").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.server = self.start()

    def start(self) -> Server:
        self.server = start_dashd(self.db, self.tmp, "--listen", f"127.0.0.1:{self.port}")
        return self.server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def dashd(module_tmp: Path) -> Iterator[Dashd]:
    d = Dashd(module_tmp)
    yield d
    assert d.server.stop() == 0


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def conn(dashd: Dashd) -> Iterator[sqlite3.Connection]:
    c = store.connect(dashd.db)
    yield c
    c.close()


def signed_in_page(browser: Any, dashd: Dashd, path: str, **context: Any) -> tuple[Any, list[str]]:
    """A new page signed in as admin at `path`, and the list its console messages go to."""
    page = browser.new_context(**context).new_page()
    page.set_default_timeout(WAIT_MS)
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    page.goto(dashd.url + "/login?next=" + path)
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    sync_api.expect(page).to_have_url(dashd.url + path)
    return page, console


def reply(conn: sqlite3.Connection, text: str) -> int:
    return store.store_outbound(conn, JID, text, group_folder="demo")


def open_run(conn: sqlite3.Connection) -> int:
    run = store.open_run(
        conn, store.NewRun(WorkKey.chat(JID), "demo", "", JID, batch_end=0, sandbox="none")
    )
    assert run is not None
    return run


def test_replies_show_within_100_ms_and_a_streamed_reply_part_by_part(
    browser: Any, dashd: Dashd, conn: sqlite3.Connection
) -> None:
    expect = sync_api.expect
    page, console = signed_in_page(browser, dashd, "/web/demo")
    reply(conn, "an old reply")
    expect(page.locator("#messages .msg")).to_have_count(1)  # the stream is open
    assert page.evaluate(OBSERVE_JS)
    latencies = []
    for i in range(5):
        before = time.time() * 1000
        seq = reply(conn, f"quick reply {i}")
        page.wait_for_function(f"() => window.__seen['{seq}'] !== undefined")
        latencies.append(page.evaluate(f"() => window.__seen['{seq}']") - before)
    assert statistics.median(latencies) <= 100, latencies
    assert max(latencies) <= 250, latencies

    typing = page.locator("#typing")
    expect(typing).to_be_hidden()
    run = open_run(conn)
    expect(typing).to_be_visible()
    expect(typing).to_have_text("demo is typing…")
    rows = page.locator("#messages .msg")
    for n, part in enumerate(["part one", "part <two>", "part three"], start=7):
        reply(conn, part)
        expect(rows).to_have_count(n)  # each part shows while the run goes on
        expect(rows.last.locator(".body")).to_have_text(part)
        expect(typing).to_be_visible()
    assert store.end_run(conn, run, "ok")
    expect(typing).to_be_hidden()
    assert page.locator("#messages b").count() == 0
    assert not [m for m in console if "Content Security Policy" in m], console
    page.context.close()


def test_after_a_restart_the_page_gets_the_missed_replies_once(
    browser: Any, dashd: Dashd, conn: sqlite3.Connection
) -> None:
    expect = sync_api.expect
    page, _ = signed_in_page(browser, dashd, "/web/demo")
    streams: list[Any] = []
    page.on("request", lambda r: streams.append(r) if "/events" in r.url else None)
    seen = reply(conn, "before the restart")
    expect(page.locator(f"#m{seen}")).to_have_count(1)
    assert dashd.server.stop() == 0
    missed = [reply(conn, f"while down {i}") for i in range(3)]
    dashd.start()
    for seq in missed:
        expect(page.locator(f"#m{seq}")).to_have_count(1, timeout=20_000)
    order = page.eval_on_selector_all("#messages .msg", "els => els.map(e => e.dataset.seq)")
    assert order[-4:] == [str(s) for s in [seen, *missed]]
    assert len(order) == len(set(order))
    resumed = [r.all_headers().get("last-event-id") for r in streams]
    assert str(seen) in resumed, resumed
    page.context.close()


def test_the_status_page_follows_its_stream(
    browser: Any, dashd: Dashd, conn: sqlite3.Connection
) -> None:
    expect = sync_api.expect
    page, console = signed_in_page(browser, dashd, "/")
    marker = page.evaluate("() => { window.__notReloaded = true; return 1 }")
    assert marker == 1
    seq = store.store_outbound(conn, "tg:lost", "a reply that never arrives")
    store.claim_outbound(conn, "test")
    store.mark_failed(conn, seq, "channel down", permanent=True)
    expect(page.locator("#status")).to_contain_text("a reply that never arrives")
    assert page.evaluate("() => window.__notReloaded") is True
    assert not [m for m in console if "Content Security Policy" in m], console
    page.context.close()


def test_without_javascript_posting_and_reloading_still_work(
    browser: Any, dashd: Dashd, conn: sqlite3.Connection
) -> None:
    expect = sync_api.expect
    page, _ = signed_in_page(browser, dashd, "/web/demo", java_script_enabled=False)
    expect(page.locator("noscript")).to_have_count(1)
    page.fill("textarea[name=text]", "typed without scripts")
    page.click("#compose button")
    expect(page).to_have_url(dashd.url + "/web/demo")
    expect(page.locator("#messages .msg.them .body").last).to_have_text("typed without scripts")
    reply(conn, "answer for the reload")
    page.reload()
    expect(page.locator("#messages .msg.me .body").last).to_have_text("answer for the reload")
    page.context.close()
