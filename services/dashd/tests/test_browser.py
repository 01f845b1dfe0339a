"""The dashboard in a real browser (Playwright driving Debian's chromium) against the real
daemons: sign in, daemons green, web chat with the echo agent, pause a task, approve an
onboarding, sign out."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import store
from dashd.users import add_user
from dashd_harness import PASSWORD, Server, open_db, start_dashd
from onbod import api as onbod
from testkit import wait_for
from timed import api as timed

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000

if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
    pytestmark = pytest.mark.skip(reason="Debian's chromium (/usr/bin/chromium) is not installed")

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def stack(module_tmp: Path) -> Iterator[Server]:
    """gated, timed and onbod as real processes, plus dashd, on one fresh database."""
    db = module_tmp / "stack.db"
    conn = open_db(db)
    add_user(conn, "admin", PASSWORD)
    groups = module_tmp / "groups"
    (groups / "demo").mkdir(parents=True)
    env = {
        **os.environ,
        "SWITCHBOARD_GROUPS_DIR": str(groups),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    procs = []
    commands = {
        "gated": ["gated.main", "--listen", f"127.0.0.1:{free_port()}"],
        "timed": ["timed.main"],
        "onbod": ["onbod.main"],
    }
    for name, args in commands.items():
        log = (module_tmp / f"{name}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", *args, "--db", str(db)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        )
    wait_for(
        lambda: {d.name for d in store.list_daemons(conn)} >= set(commands),
        30,
        "daemon heartbeats",
    )
    store.register_group(conn, "tg:demo-room", "demo")
    srv = start_dashd(db, module_tmp)
    yield srv
    assert srv.stop() == 0
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=20)
    conn.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_operator_day_in_the_browser(stack: Server, browser: object) -> None:
    expect = sync_api.expect
    conn = store.connect(stack.db)
    task = timed.add_task(conn, chat_jid="tg:demo-room", prompt="morning report", every_s=3600)
    store.put_message(conn, store.NewMessage(id="n1", chat_jid="tg:stranger", content="hello?"))
    wait_for(lambda: onbod.get(conn, "tg:stranger") is not None, 30, "onbod to greet the stranger")
    store.put_message(conn, store.NewMessage(id="n2", chat_jid="tg:stranger", content="faraway"))
    wait_for(lambda: bool(onbod.pending(conn)), 30, "the stranger's request to be pending")

    page = browser.new_page()  # type: ignore[attr-defined]
    page.set_default_timeout(WAIT_MS)
    page.goto(stack.url + "/")
    expect(page).to_have_url(stack.url + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page.locator("header .who")).to_contain_text("Signed in as admin")

    # Every daemon green.
    for name in ("gated", "timed", "onbod", "dashd"):
        expect(page.locator(f'tr[data-daemon="{name}"]')).to_have_attribute("data-state", "up")

    # Web chat: send, and the echo reply appears without a reload.
    page.click("nav >> text=Web chat")
    page.click("a:has-text('demo')")
    expect(page).to_have_url(stack.url + "/web/demo")
    marker = page.evaluate("() => { window.__notReloaded = true; return 1 }")
    assert marker == 1
    page.fill("textarea[name=text]", "hello from the browser <b>bold?</b>")
    page.click("#compose button")
    mine = page.locator("#messages .msg.them .body", has_text="hello from the browser")
    expect(mine).to_have_count(1)
    reply = page.locator("#messages .msg.me .body", has_text="echo: hello from the browser")
    expect(reply).to_have_count(1, timeout=30_000)
    expect(reply).to_have_text("echo: hello from the browser <b>bold?</b>")
    assert page.evaluate("() => window.__notReloaded") is True
    expect(page.locator("textarea[name=text]")).to_have_value("")

    # Pause a task.
    page.click("nav >> text=Tasks")
    page.click(f"a[href='/tasks/{task.id}'] >> nth=0")
    page.click("button:has-text('Pause')")
    expect(page.locator(".flash.ok")).to_contain_text(f"Task {task.id} paused.")
    paused = timed.get_task(conn, task.id)
    assert paused is not None
    assert paused.status == "paused"

    # Approve an onboarding.
    page.click("nav >> text=Onboarding")
    row = page.locator('[data-jid="tg:stranger"]')
    expect(row).to_contain_text("faraway")
    row.locator("button:has-text('Approve')").click()
    expect(page.locator(".flash.ok")).to_be_visible()
    approved = onbod.get(conn, "tg:stranger")
    assert approved is not None
    assert approved.status == "approved"
    expect(page.locator(".empty").first).to_contain_text("Nobody is waiting")

    # Sign out.
    page.click("button:has-text('Sign out')")
    expect(page).to_have_url(stack.url + "/login?ok=Signed+out.")
    page.goto(stack.url + "/tasks")
    expect(page).to_have_url(stack.url + "/login?next=%2Ftasks")
    page.close()
