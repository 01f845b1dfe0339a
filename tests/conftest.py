"""The all-daemon harness: gated, timed, onbod and dashd as real processes on one temp db, with
free ports, waited for by heartbeat, stopped with SIGTERM (exit codes checked)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import store
from testkit import StandinAdapter, wait_for

DAEMONS = ("gated", "timed", "onbod", "dashd")
BIN = Path(sys.executable).parent
CHANNEL_SECRET = "harness-channel-secret"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
FRESH_S = 15.0
BIND_RETRIES = 3

T = TypeVar("T")


def free_port() -> int:
    """A port nothing listens on right now (bind port 0 on 127.0.0.1 and read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def csrf(html: str) -> str:
    """The CSRF token of the first form on a dashd page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, f"no CSRF field in page: {html[:500]}"
    return found.group(1)


class Adapter:
    """A stand-in chat-platform adapter process registered with gated as channel `name`; when
    the registration fails the process is stopped before the error propagates."""

    def __init__(self, system: System, name: str, prefixes: list[str] | None = None) -> None:
        self.name = name
        self.standin = StandinAdapter(system.root / f"adapter-{name}.jsonl").start()
        self.record = self.standin.record
        self.url = self.standin.url
        self.gated = system.gated_url
        try:
            resp = httpx.post(
                f"{self.gated}/v1/channels/register",
                headers={"Authorization": f"Bearer {CHANNEL_SECRET}"},
                json={"name": name, "url": self.url, "jid_prefixes": prefixes or []},
                timeout=10,
            )
            assert resp.status_code == 200, resp.text
            self.token = resp.json()["token"]
        except BaseException:
            self.standin.stop()
            raise

    def post(self, chat_jid: str, msg_id: str, content: str, **extra: Any) -> dict[str, Any]:
        """POST /v1/messages as this channel; the 202 body ({seq, duplicate})."""
        resp = httpx.post(
            f"{self.gated}/v1/messages",
            headers={"Authorization": f"Bearer {self.token}"},
            json={"chat_jid": chat_jid, "id": msg_id, "content": content, **extra},
            timeout=30,
        )
        assert resp.status_code == 202, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def sent(self, chat_jid: str | None = None) -> list[dict[str, Any]]:
        """Every /send body gated delivered so far (optionally for one chat)."""
        return self.standin.sends(chat_jid)

    def texts(self, chat_jid: str) -> list[str]:
        return [b["text"] for b in self.sent(chat_jid)]

    def close(self) -> None:
        self.standin.stop()


class System:
    """Four daemons on one database; helpers to drive and break them from a test."""

    def __init__(self, root: Path, extra_env: dict[str, str] | None = None) -> None:
        self.root = root
        self.db = root / "messages.db"
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.gated_port = free_port()
        self.dashd_port = free_port()
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "SWITCHBOARD_DB": str(self.db),
            "SWITCHBOARD_LISTEN": f"127.0.0.1:{self.gated_port}",
            "SWITCHBOARD_DASHD_LISTEN": f"127.0.0.1:{self.dashd_port}",
            "SWITCHBOARD_CHANNEL_SECRET": CHANNEL_SECRET,
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.env.pop("NOTIFY_SOCKET", None)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.adapters: list[Adapter] = []
        self.exit_codes: dict[str, list[int]] = {n: [] for n in DAEMONS}

    # -- addresses ---------------------------------------------------------------------------
    @property
    def gated_url(self) -> str:
        return f"http://127.0.0.1:{self.gated_port}"

    @property
    def dashd_url(self) -> str:
        return f"http://127.0.0.1:{self.dashd_port}"

    # -- life cycle --------------------------------------------------------------------------
    def spawn(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        try:
            proc = subprocess.Popen(
                [str(BIN / name), "--db", str(self.db)],
                env=self.env,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        self.procs[name] = proc
        return proc

    def start(self, *names: str) -> None:
        """Start the named daemons (all when none named) and wait for their heartbeats."""
        for name in names or DAEMONS:
            self.spawn(name)
        for name in names or DAEMONS:
            self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = START_TIMEOUT_S) -> int:
        """Wait for a fresh heartbeat and, for a daemon with a listener, its own health answer.
        A daemon that exits because its port was taken meanwhile is started on a new one."""
        for _ in range(BIND_RETRIES):
            proc = self.procs[name]
            wait_for(lambda p=proc: self._ready_or_exited(name, p), timeout, f"{name} ready")
            if proc.poll() is None:
                return proc.pid
            if not (proc.returncode == 1 and "could not serve on" in self.log(name)[-500:]):
                pytest.fail(f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")
            self.new_port(name)
            self.spawn(name)
        pytest.fail(f"{name} could not bind a port in {BIND_RETRIES} tries")

    def _ready_or_exited(self, name: str, proc: subprocess.Popen[bytes]) -> bool:
        if proc.poll() is not None:
            return True
        return self.heartbeat_fresh(name, proc.pid) and self.healthy(name)

    def healthy(self, name: str) -> bool:
        """The daemon's own health endpoint answers (gated, dashd); True for the others."""
        url = {"gated": f"{self.gated_url}/v1/health", "dashd": f"{self.dashd_url}/healthz"}
        if name not in url:
            return True
        try:
            resp = httpx.get(url[name], timeout=2)
        except httpx.HTTPError:
            return False
        expected = '"status":"ok"' if name == "gated" else "ok"
        return resp.status_code == 200 and expected in resp.text

    def new_port(self, name: str) -> None:
        if name == "gated":
            self.gated_port = free_port()
            self.env["SWITCHBOARD_LISTEN"] = f"127.0.0.1:{self.gated_port}"
        else:
            self.dashd_port = free_port()
            self.env["SWITCHBOARD_DASHD_LISTEN"] = f"127.0.0.1:{self.dashd_port}"

    def heartbeat_fresh(self, name: str, pid: int) -> bool:
        if not self.db.exists():
            return False
        try:
            rows = self.query(
                "SELECT pid, heartbeat_at, stopped_at FROM daemons WHERE name = ?", name
            )
        except sqlite3.OperationalError:
            return False  # schema not there yet
        if not rows or rows[0]["pid"] != pid or rows[0]["stopped_at"]:
            return False
        age = (store.utcnow() - store.parse_iso(rows[0]["heartbeat_at"])).total_seconds()
        return age <= FRESH_S

    def stop(self, name: str, timeout: float = STOP_TIMEOUT_S, *, signalled: bool = False) -> int:
        """SIGTERM one daemon (unless `signalled`: sent already) and wait for it; its exit code
        (SIGKILL after the timeout). One SIGTERM only: a second one, arriving while the daemon
        shuts down with its handler gone, would kill it with -15."""
        proc = self.procs[name]
        if proc.poll() is None:
            if not signalled:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                pytest.fail(f"{name} did not stop within {timeout} s of SIGTERM")
        self.exit_codes[name].append(proc.returncode)
        return proc.returncode

    def stop_all(self) -> dict[str, int]:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        return {name: self.stop(name, signalled=True) for name in list(self.procs)}

    def restart(self, name: str) -> int:
        """Graceful restart (must exit 0); the new pid once its heartbeat is fresh."""
        code = self.stop(name)
        assert code == 0, f"{name} exited {code} on SIGTERM:\n{self.log(name)[-3000:]}"
        self.spawn(name)
        return self.wait_ready(name)

    def kill9(self, name: str, restart: bool = True) -> int | None:
        """SIGKILL a daemon (as a crash would); restart it unless told not to. The new pid."""
        proc = self.procs[name]
        proc.kill()
        proc.wait()
        if not restart:
            return None
        self.spawn(name)
        return self.wait_ready(name)

    # -- driving and observing ---------------------------------------------------------------
    def adapter(self, name: str, prefixes: list[str] | None = None) -> Adapter:
        """Start a stand-in adapter and register it with gated as channel `name`."""
        adapter = Adapter(self, name, prefixes)
        self.adapters.append(adapter)
        return adapter

    @contextmanager
    def dashboard(self, username: str, password: str) -> Iterator[httpx.Client]:
        """`with system.dashboard(user, pw) as web:` an HTTP client logged in to dashd."""
        with httpx.Client(base_url=self.dashd_url, timeout=15) as web:
            form = web.get("/login")
            resp = web.post(
                "/login",
                data={
                    "csrf": csrf(form.text),
                    "next": "/",
                    "username": username,
                    "password": password,
                },
            )
            assert resp.status_code in (302, 303), f"login failed: {resp.status_code}"
            yield web

    def replies(self, chat_jid: str) -> list[str]:
        """The outbound texts stored for a chat, in order (what the agent or gated answered)."""
        rows = self.query(
            "SELECT content FROM messages WHERE chat_jid = ? AND is_from_me = 1 ORDER BY seq",
            chat_jid,
        )
        return [r["content"] for r in rows]

    def cli(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the switchboard CLI on this database as a subprocess."""
        proc = subprocess.run(
            [str(BIN / "switchboard"), *args],
            env=self.env,
            cwd=self.root,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"switchboard {' '.join(args)} exited {proc.returncode}:\n"
                f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )
        return proc

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def query(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        """A read on a fresh read-only connection (assertions only; tests drive via HTTP/CLI)."""
        conn = store.connect(self.db, readonly=True)
        try:
            return list(conn.execute(sql, params))
        finally:
            conn.close()

    def wait_for(
        self, predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition"
    ) -> T:
        return wait_for(predicate, timeout, what)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def all_logs(self) -> dict[str, str]:
        return {name: self.log(name) for name in DAEMONS}


@pytest.fixture(name="csrf")
def csrf_fixture() -> Callable[[str], str]:
    """`csrf(html)`: the CSRF token of a dashd form."""
    return csrf


@pytest.fixture(name="free_port")
def free_port_fixture() -> Callable[[], int]:
    """`free_port()`: a free TCP port on 127.0.0.1 (test modules cannot import conftest)."""
    return free_port


def _teardown(system: System) -> None:
    for adapter in system.adapters:
        adapter.close()
    codes = system.stop_all()
    bad = {n: c for n, c in codes.items() if c != 0}
    assert not bad, "daemons did not exit 0 on SIGTERM: " + ", ".join(
        f"{n}={c}\n{system.log(n)[-2000:]}" for n, c in bad.items()
    )


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """All four daemons on one database for the whole session (do not break it)."""
    sys_ = System(tmp_path_factory.mktemp("system"))
    try:
        sys_.start()
        yield sys_
    finally:
        _teardown(sys_)


@pytest.fixture
def unstarted_system(tmp_path: Path) -> Iterator[System]:
    """A System on a database of this test's own whose daemons the test starts itself."""
    sys_ = System(tmp_path / "system")
    try:
        yield sys_
    finally:
        _teardown(sys_)


@pytest.fixture
def fresh_system(tmp_path: Path) -> Iterator[System]:
    """All four daemons on a database of this test's own, for tests that break things."""
    sys_ = System(tmp_path / "system")
    try:
        sys_.start()
        yield sys_
    finally:
        _teardown(sys_)
