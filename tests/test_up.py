"""`switchboard up` as a real process: prepares the database, runs the daemons with prefixed
logs, restarts a killed child, gives up on a crash loop, and stops everything on SIGTERM."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import store
from switchboard.supervisor import ChildSpec, LogPrinter, Supervisor, use_colour
from testkit import wait_for
from testkit.up_process import UpProcess as Up

BIN = Path(sys.executable).parent
DAEMONS = ("gated", "timed", "onbod", "dashd")


@pytest.fixture
def start_up(
    tmp_path: Path, free_port: Callable[[], int]
) -> Iterator[Callable[..., tuple[Up, dict[str, str]]]]:
    started: list[Up] = []

    def start(*args: str, env: dict[str, str] | None = None) -> tuple[Up, dict[str, str]]:
        ports = {"gated": str(free_port()), "dashd": str(free_port())}
        full_env = {**os.environ, **(env or {})}
        for key in ("SWITCHBOARD_DB", "NOTIFY_SOCKET", "SWITCHBOARD_LISTEN"):
            full_env.pop(key, None)
        up = Up.start(
            [
                "--gated-listen",
                f"127.0.0.1:{ports['gated']}",
                "--dashd-listen",
                f"127.0.0.1:{ports['dashd']}",
                *args,
            ],
            cwd=tmp_path,
            env=full_env,
        )
        started.append(up)
        return up, ports

    yield start
    for up in started:
        up.stop()
    # Nothing may outlive the test, even when it failed half-way.
    db = tmp_path / "data" / "messages.db"
    if db.exists():
        for pid in daemon_pids(db).values():
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def daemon_pids(db: Path) -> dict[str, int]:
    conn = store.connect(db, readonly=True)
    try:
        return {r["name"]: r["pid"] for r in conn.execute("SELECT name, pid FROM daemons")}
    finally:
        conn.close()


def fresh_pids(db: Path) -> dict[str, int]:
    """name -> pid of the daemons whose heartbeat is fresh and whose process is alive."""
    conn = store.connect(db, readonly=True)
    try:
        out = {}
        for d in store.list_daemons(conn):
            if d.heartbeat_at is None or d.stopped_at or d.pid is None:
                continue
            age = (store.utcnow() - store.parse_iso(d.heartbeat_at)).total_seconds()
            if age <= 15 and pid_alive(d.pid):
                out[d.name] = d.pid
        return out
    finally:
        conn.close()


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_DB"}
    return subprocess.run(
        [str(BIN / "switchboard"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def groups_now(tmp_path: Path) -> set[str]:
    return {g["jid"] for g in json.loads(cli(tmp_path, "group", "list", "--json").stdout)}


def test_up_prepares_runs_restarts_and_stops(
    tmp_path: Path, start_up: Callable[..., tuple[Up, dict[str, str]]]
) -> None:
    up, ports = start_up()
    up.wait_for_banner()  # the banner is several lines, read one at a time
    db = tmp_path / "data" / "messages.db"
    assert db.exists()
    text = up.text()
    assert f"dashboard:   http://127.0.0.1:{ports['dashd']}/" in text
    assert "switchboard chat demo" in text
    assert f"web chat:    http://127.0.0.1:{ports['dashd']}/web/demo" in text
    assert "\033[" not in text  # not a tty: no colour codes
    # The printed URLs answer as soon as the banner is out.
    assert httpx.get(f"http://127.0.0.1:{ports['dashd']}/login", timeout=10).status_code == 200
    assert httpx.get(f"http://127.0.0.1:{ports['gated']}/v1/health", timeout=10).status_code == 200
    for name in DAEMONS:  # every daemon's log lines carry its name
        assert re.search(rf"^{name}\s+\| ", text, re.M), text
    # Each daemon's /metrics URL is in the banner and answers (loopback needs no token).
    urls = dict(
        (m.group(2), m.group(1))
        for m in re.finditer(r"(http://127\.0\.0\.1:\d+/metrics) \((\w+)\)", text)
    )
    assert set(urls) == set(DAEMONS), text
    assert urls["gated"] == f"http://127.0.0.1:{ports['gated']}/metrics"
    assert urls["dashd"] == f"http://127.0.0.1:{ports['dashd']}/metrics"
    for name, url in urls.items():
        resp = httpx.get(url, timeout=10)
        assert resp.status_code == 200, f"{name}: {resp.status_code}"
        assert "switchboard_" in resp.text, name

    # The demo group (echo agent: no agent command) and the operator chat exist.
    groups = {g["jid"]: g for g in json.loads(cli(tmp_path, "group", "list", "--json").stdout)}
    assert groups["web:demo"]["folder"] == "demo"
    assert groups["web:demo"]["command"] is None
    assert groups["cli:operator"]["is_operator"] is True
    assert (tmp_path / "data" / "groups" / "demo").is_dir()

    # The admin dashboard user was created with a password shown once.
    login = up.wait_for_line(r"login:\s+(.*)$").group(1)
    assert login.startswith("admin / "), login
    from dashd.users import list_users

    conn = store.connect(db, readonly=True)
    try:
        assert [u.username for u in list_users(conn)] == ["admin"]
    finally:
        conn.close()

    # The demo agent answers in the terminal chat the banner points to...
    chat = subprocess.Popen(
        [str(BIN / "switchboard"), "chat", "demo"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "SWITCHBOARD_DB"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    heard: list[str] = []
    threading.Thread(
        target=lambda: heard.extend(iter(chat.stdout.readline, "")) if chat.stdout else None,
        daemon=True,
    ).start()
    assert chat.stdin is not None
    chat.stdin.write("hello demo\n")
    chat.stdin.flush()
    wait_for(lambda: any("echo: hello demo" in x for x in heard), 30, "the echo in chat")
    chat.stdin.close()  # Ctrl-D
    assert chat.wait(timeout=20) == 0

    # ... and in the dashboard's web chat, for the admin whose password was printed.
    if login.startswith("admin / "):
        password = login.removeprefix("admin / ").strip()
        with httpx.Client(base_url=f"http://127.0.0.1:{ports['dashd']}", timeout=15) as web:
            form = web.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert token
            resp = web.post(
                "/login",
                data={
                    "csrf": token.group(1),
                    "next": "/",
                    "username": "admin",
                    "password": password,
                },
            )
            assert resp.status_code in (302, 303)
            page = web.get("/web/demo")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token
            web.post("/web/demo", data={"csrf": token.group(1), "text": "hello web"})
            wait_for(
                lambda: "echo: hello web" in web.get("/web/demo/since?after=0").text,
                30,
                "the echo in the web chat",
            )

    # Every heartbeat is fresh and written by a child of `up`.
    pids = fresh_pids(db)
    assert sorted(pids) == sorted(DAEMONS)
    assert all(parent_of(pid) == up.proc.pid for pid in pids.values())

    # kill -9 one child: it comes back with a new pid.
    os.kill(pids["timed"], signal.SIGKILL)
    wait_for(
        lambda: fresh_pids(db).get("timed") not in (None, pids["timed"]),
        30,
        "timed to be restarted",
    )
    up.wait_for_line(r"timed restarted \(pid \d+\)")
    after = fresh_pids(db)
    assert parent_of(after["timed"]) == up.proc.pid

    # SIGTERM: every child stops, `up` exits 0.
    up.proc.send_signal(signal.SIGTERM)
    assert up.proc.wait(timeout=40) == 0, up.text()
    assert not any(pid_alive(p) for p in after.values())
    conn = store.connect(db, readonly=True)
    try:
        assert all(d.stopped_at for d in store.list_daemons(conn))
    finally:
        conn.close()

    # A second `up` on the same database creates nothing new; --only runs a subset.
    before = groups_now(tmp_path)
    assert before == {"web:demo", "cli:operator", "cli:demo"}  # cli:demo: `switchboard chat`
    up2, ports2 = start_up("--only", "gated,timed")
    up2.wait_for_line(r"Switchboard is up: gated, timed on", timeout=60)
    up2.wait_for_banner()
    assert "created group" not in up2.text()
    assert "dashboard:" not in up2.text()
    assert f"channel API: http://127.0.0.1:{ports2['gated']}/v1/health" in up2.text()
    running = fresh_pids(db)
    assert sorted(running) == ["gated", "timed"]
    assert groups_now(tmp_path) == before
    up2.proc.send_signal(signal.SIGINT)  # Ctrl-C behaves like SIGTERM
    assert up2.proc.wait(timeout=40) == 0, up2.text()
    assert not any(pid_alive(p) for p in running.values())


def test_up_gives_up_after_quick_crashes(
    start_up: Callable[..., tuple[Up, dict[str, str]]], tmp_path: Path
) -> None:
    # onbod is killed (-9, a crash) right after each start, five times in a row.
    up, _ = start_up("--only", "onbod")
    db = tmp_path / "data" / "messages.db"
    killed: list[int] = []
    while len(killed) < 5 and up.proc.poll() is None:
        deadline = time.monotonic() + 30
        pid = None
        while time.monotonic() < deadline and up.proc.poll() is None:
            try:
                pid = fresh_pids(db).get("onbod") if db.exists() else None
            except sqlite3.OperationalError:
                pid = None  # the schema is not there yet
            if pid is not None and pid not in killed:
                break
            time.sleep(0.05)
        assert pid is not None, up.text()
        assert pid not in killed, up.text()
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
    code = up.proc.wait(timeout=60)
    assert up.eof.wait(timeout=10)
    assert code == 1, up.text()
    assert re.search(r"onbod crashed 5 times within 10 s of starting", up.text())
    assert "giving up" in up.text()


def test_up_stops_at_once_when_a_daemon_refuses_its_settings(
    start_up: Callable[..., tuple[Up, dict[str, str]]],
) -> None:
    # A bad setting is not a crash: restarting cannot help, so up stops after the first exit.
    up, _ = start_up("--only", "onbod", env={"SWITCHBOARD_ONBOARDING_POLICY": "bogus"})
    code = up.proc.wait(timeout=60)
    assert up.eof.wait(timeout=10)
    assert code == 1, up.text()
    assert (
        "onbod: error: SWITCHBOARD_ONBOARDING_POLICY='bogus' is not allowed: "
        "expected one of approval, open, closed" in up.text()
    )
    assert "onbod refused its settings (exit code 2" in up.text()
    assert "restarting" not in up.text()


def test_prepare_creates_admin_once_and_then_names_the_existing_users(tmp_path: Path) -> None:
    from switchboard.commands.up import prepare

    first = prepare(tmp_path / "messages.db")
    assert first.admin_password
    assert first.admin_note == f"admin / {first.admin_password}"
    again = prepare(tmp_path / "messages.db")
    assert again.admin_password is None
    assert again.created_groups == ()
    assert again.admin_note == "existing users (admin); new password: switchboard user passwd NAME"


def test_up_rejects_an_unknown_daemon(tmp_path: Path) -> None:
    proc = cli(tmp_path, "up", "--only", "gated,nope")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "only" in proc.stderr
    assert "nope" in proc.stderr
    assert not (tmp_path / "data").exists()


def test_up_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = cli(tmp_path, "up", "--only", "dashd", "--dashd-listen", f"127.0.0.1:{port}")
    assert proc.returncode == 2
    assert f"dashd_listen: cannot listen on 127.0.0.1:{port}" in proc.stderr


def test_log_lines_are_coloured_only_on_a_terminal_without_no_color() -> None:
    main, secondary = pty.openpty()
    try:
        with os.fdopen(secondary, "w", closefd=False) as tty:
            assert use_colour(tty, {}) is True
            assert use_colour(tty, {"NO_COLOR": "1"}) is False
            printer = LogPrinter(tty, colour=True)
            printer.line("timed", "hello")
        out = os.read(main, 4096).decode()
        assert out.startswith("\033[35mtimed |\033[0m hello")
    finally:
        os.close(main)
        os.close(secondary)
    buf = io.StringIO()
    assert use_colour(buf, {}) is False
    LogPrinter(buf, colour=False).line("gated", "plain")
    assert buf.getvalue() == "gated | plain\n"


def test_children_stop_when_up_is_killed(
    tmp_path: Path, start_up: Callable[..., tuple[Up, dict[str, str]]]
) -> None:
    up, _ = start_up("--only", "timed,onbod")
    up.wait_for_line(r"Switchboard is up", timeout=60)
    db = tmp_path / "data" / "messages.db"
    pids = fresh_pids(db)
    assert sorted(pids) == ["onbod", "timed"]
    up.proc.kill()  # no chance to stop its children itself
    up.proc.wait()
    wait_for(lambda: not any(pid_alive(p) for p in pids.values()), 30, "the orphans to stop")
    conn = store.connect(db, readonly=True)
    try:  # they got SIGTERM, so they stopped cleanly
        assert all(d.stopped_at for d in store.list_daemons(conn))
    finally:
        conn.close()


def test_a_child_ignoring_sigterm_is_killed_after_the_stop_timeout() -> None:
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(120)"
    )
    out = io.StringIO()
    sup = Supervisor(
        [ChildSpec("timed", (sys.executable, "-c", stubborn), {})], LogPrinter(out, False)
    )
    sup.start_all()
    wait_for(lambda: "timed | ready" in out.getvalue(), 30, "the child to start")
    pid = sup.pids()["timed"]
    began = time.monotonic()
    codes = sup.stop_all(timeout=0.5)
    assert codes == {"timed": -signal.SIGKILL}
    assert time.monotonic() - began < 10
    assert "timed did not stop within 0.5 s; killing it" in out.getvalue()
    assert not pid_alive(pid)
