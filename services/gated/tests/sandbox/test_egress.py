"""Agent network modes in real bubblewrap sandboxes: `proxy` reaches allowed hosts (a local test
server, named through gated's test-only resolve map) over plain HTTP and CONNECT and nothing
else, every attempt logged and counted; with the egress proxy stopped nothing gets out; `none`
has no way out at all; `full` has the host's network, and everyone is told."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import store
from gated.agent import AgentRun, RunOutcome, RunSpec
from gated.egress import EgressCounter, EgressProxy, egress_counts
from gated.main import SCHEMAS
from gated.rundir import RunDirs
from gated.sandbox import HostPaths, SandboxSettings, SandboxSpec, plan_launch, probe_bwrap
from gated_loop_support import Gated, group_dir, put, reply_texts, start_gated, stop_gated
from gated_loop_support import wait_for as _wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "dashd" / "tests"))
from dashd.users import add_user
from dashd_harness import PASSWORD, open_db, signed_in, start_dashd

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
RESOLVE = "allowed.test=127.0.0.1,denied.test=127.0.0.1"


class WebServer:
    """A plain HTTP server on 127.0.0.1 recording (path, Host header) of each request."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append((self.path, self.headers.get("Host", "")))
                body = f"hello {self.path}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def switchboard(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SWITCHBOARD_DB": str(db)}
    return subprocess.run(
        [str(BIN / "switchboard"), *args], capture_output=True, text=True, env=env, timeout=60
    )


def net_group(
    conn: sqlite3.Connection, db: Path, folder: str, network: str, allow: str = "", **more: str
) -> Path:
    path = group_dir(db, folder)
    shutil.copy(HERE / "netagent.py", path / "netagent.py")
    store.register_group(
        conn, f"web:{folder}", folder, agent_config={"command": f"{sys.executable} netagent.py"}
    )
    changes = {"network": network, **({"allow_hosts": allow} if allow else {}), **more}
    store.update_folder_settings(conn, folder, changes, [])
    return path


def proxy_tries(port: int) -> dict[str, list[Any]]:
    return {
        "http": ["proxy", f"http://allowed.test:{port}/plain"],
        "connect": ["tunnel", "allowed.test", port],
        "denied": ["absolute", f"http://denied.test:{port}/nope"],
        "denied_connect": ["tunnel", "denied.test", port],
        "localhost": ["tunnel", "localhost", port],
        "ip_literal": ["tunnel", "127.0.0.1", port],
        "direct": ["direct", "127.0.0.1", port],
        "HTTP_PROXY": ["env", "HTTP_PROXY"],
        "https_proxy": ["env", "https_proxy"],
        "NO_PROXY": ["env", "NO_PROXY"],
    }


@dataclass
class NetRun:
    """One gated with a group of each network mode, after each agent has reported."""

    gated: Gated
    conn: sqlite3.Connection
    db: Path
    web: WebServer
    reports: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def net() -> Iterator[NetRun]:
    if not (probe := probe_bwrap("bwrap")).works:
        pytest.skip(f"bubblewrap cannot run here: {probe.reason}")
    data = Path(tempfile.mkdtemp(prefix="switchboard-egress-", dir="/var/tmp"))
    db = data / "messages.db"
    web = WebServer()
    port = web.port
    conn = store.open(db, SCHEMAS)
    store.register_group(conn, "web:ops", "ops", is_operator=True)
    net_group(conn, db, "netp", "proxy", f"allowed.test:{port},localhost:{port},127.0.0.1:{port}")
    net_group(conn, db, "netn", "none")
    net_group(conn, db, "netf", "full")
    net_group(conn, db, "netu", "proxy", f"allowed.test:{port}", sandbox="none")
    gated = start_gated(
        db, "--egress-resolve", RESOLVE, "--agent-timeout", "60",
        env={"SWITCHBOARD_SANDBOX": "auto"},
    )  # fmt: skip
    tasks = {
        "netp": proxy_tries(port),
        "netn": {
            "http": ["proxy", f"http://allowed.test:{port}/none"],
            "direct": ["direct", "127.0.0.1", port],
            "HTTP_PROXY": ["env", "HTTP_PROXY"],
        },
        "netf": {"direct": ["direct", "127.0.0.1", port], "HTTP_PROXY": ["env", "HTTP_PROXY"]},
        "netu": {"HTTP_PROXY": ["env", "HTTP_PROXY"]},
    }
    try:
        for folder, tries in tasks.items():
            put(conn, f"web:{folder}", json.dumps({"tries": tries}))
        reports = {}
        for folder in tasks:
            _wait_for(lambda f=folder: reply_texts(conn, f"web:{f}"), 60, f"{folder}'s report")
            reports[folder] = json.loads(reply_texts(conn, f"web:{folder}")[0])["first"]
        yield NetRun(gated, conn, db, web, reports)
    finally:
        conn.close()
        web.stop()
        code = stop_gated(gated)
        shutil.rmtree(data, ignore_errors=True)
        assert code == 0, gated.log_text()


def test_proxy_reaches_an_allowed_host_over_http_and_connect(net: NetRun) -> None:
    got, port = net.reports["netp"], net.web.port
    assert got["http"] == "200 hello /plain"
    assert got["connect"] == "200 hello /tunnel"
    # (The network=full group's direct request is the only other one the server saw.)
    assert sorted(s for s in net.web.seen if s[0] != "/direct") == [
        ("/plain", f"allowed.test:{port}"),
        ("/tunnel", f"allowed.test:{port}"),
    ]
    assert got["HTTP_PROXY"].startswith("http://127.0.0.1:")
    assert got["https_proxy"] == got["HTTP_PROXY"]
    assert got["NO_PROXY"] == "127.0.0.1,localhost"
    log = net.gated.log_text()
    assert (
        f"egress folder=netp host=allowed.test port={port} verdict=allowed "
        f"reason=allow_hosts:allowed.test:{port}+test-resolve"
    ) in log


def test_proxy_refuses_a_denied_host_and_says_so_in_the_log_and_the_counts(net: NetRun) -> None:
    got, port = net.reports["netp"], net.web.port
    assert got["denied"] == f"403 egress denied: denied.test:{port} (not-in-allow_hosts)"
    assert got["denied_connect"].startswith("ERR OSError: Tunnel connection failed: 403")
    log = net.gated.log_text()
    assert (
        f"egress folder=netp host=denied.test port={port} verdict=denied reason=not-in-allow_hosts"
    ) in log
    expected = {
        ("allowed.test", "allowed", 2),
        ("denied.test", "denied", 2),
        ("localhost", "denied", 1),
        ("127.0.0.1", "denied", 1),
    }

    def counted() -> set[tuple[str, str, int]]:
        return {(c.host, c.verdict, c.n) for c in egress_counts(net.conn, "netp")}

    _wait_for(lambda: counted() == expected, 15, f"the counts {expected}, have {counted()}")
    status = switchboard(net.db, "status", "--json")
    assert status.returncode == 0, status.stderr
    shown = {
        (c["folder"], c["host"], c["verdict"], c["n"]) for c in json.loads(status.stdout)["egress"]
    }
    assert ("netp", "denied.test", "denied", 2) in shown


def test_proxy_refuses_loopback_reached_through_an_allowed_name_or_literal(net: NetRun) -> None:
    got, port = net.reports["netp"], net.web.port
    # `localhost` and `127.0.0.1` are in allow_hosts, but resolve (or are) loopback.
    assert got["localhost"].startswith("ERR OSError: Tunnel connection failed: 403")
    assert got["ip_literal"].startswith("ERR OSError: Tunnel connection failed: 403")
    log = net.gated.log_text()
    assert (
        f"egress folder=netp host=localhost port={port} verdict=denied "
        "reason=resolves-to-non-public-address"
    ) in log
    assert (
        f"egress folder=netp host=127.0.0.1 port={port} verdict=denied reason=address-not-public"
    ) in log
    # And the sandbox has no network of its own: the proxy is the only way out.
    assert got["direct"].startswith("ERR ")


def test_none_has_no_proxy_and_no_way_out(net: NetRun) -> None:
    got = net.reports["netn"]
    assert got["HTTP_PROXY"] == "(unset)"
    assert got["direct"].startswith("ERR ")
    assert got["http"].startswith("ERR ")
    assert not [p for p, _ in net.web.seen if p == "/none"]
    assert "egress folder=netn" not in net.gated.log_text()


def test_full_has_the_hosts_network_and_is_warned_everywhere(net: NetRun) -> None:
    got = net.reports["netf"]
    assert got["direct"] == "HTTP/1.0 200 OK"
    assert [p for p, _ in net.web.seen if p == "/direct"] == ["/direct"]
    assert got["HTTP_PROXY"] == "(unset)"
    log = net.gated.log_text()
    assert "agent network folder=netf: network=full: the agent has the host's network" in log
    events = [m for m in store.pending_system_messages(net.conn, "ops")]
    assert [m.event for m in events] == ["network_full"]
    assert json.loads(events[0].body)["folders"] == ["netf"]
    status = switchboard(net.db, "status")
    assert "network: FULL host network for netf" in status.stdout
    doctor = switchboard(net.db, "doctor", "--json")
    assert json.loads(doctor.stdout)["warnings"] == [
        "network: FULL host network for netf (network=full: no egress proxy, no allowlist)"
    ]
    assert "WARNING: network: FULL host network for netf" in switchboard(net.db, "doctor").stdout
    dconn = open_db(net.db)
    add_user(dconn, "admin", PASSWORD)
    dconn.close()
    dashd = start_dashd(net.db, net.db.parent)
    try:
        client = signed_in(dashd, "admin")
        html = client.get("/status/live").text
        client.close()
        assert 'data-network-full="netf"' in html
        assert "FULL host network" in html
    finally:
        assert dashd.stop() == 0


def test_with_the_egress_proxy_stopped_nothing_gets_out(bwrap: str, data_dir: Path) -> None:
    web = WebServer()
    db = data_dir / "messages.db"
    conn = store.open(db, SCHEMAS)
    folder = group_dir(db, "netstop")
    shutil.copy(HERE / "netagent.py", folder / "netagent.py")
    port = web.port
    spec = SandboxSpec(network="proxy", allow_hosts=(f"allowed.test:{port}",))
    launch = plan_launch(
        spec,
        SandboxSettings(bwrap),
        HostPaths(str(folder), str(folder.parent), str(db)),
        [sys.executable, "netagent.py"],
        {},
        dict(os.environ),
    )
    assert launch.confined
    counter = EgressCounter()
    dirs = RunDirs(None)
    egress = EgressProxy(counter, dirs, {"allowed.test": "127.0.0.1"})
    tries = {
        "http": ["proxy", f"http://allowed.test:{port}/plain"],
        "connect": ["tunnel", "allowed.test", port],
        "direct": ["direct", "127.0.0.1", port],
    }
    run = AgentRun(
        RunSpec(
            key=store.WorkKey.chat("web:netstop"), folder="netstop", topic="",
            chat_jid="web:netstop",
            argv=launch.argv, cwd=folder, env=launch.env, timeout_s=60,
            payload={"messages": [{"content": json.dumps({"tries": tries, "pause": True})}]},
            last_seq=1, reply_to_id=None, run_id=1,
            limits=spec, confined=True,
        ),
        conn,
        None,
        egress,
    )  # fmt: skip
    outcomes: list[RunOutcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(run.execute()))
    try:
        thread.start()
        _wait_for(lambda: (folder / "fetched").exists(), 30, "the agent's first round")
        egress.stop()
        (folder / "go").write_text("")
        thread.join(60)
        assert len(outcomes) == 1
        assert outcomes[0].result == "ok", outcomes
        report = json.loads(reply_texts(conn, "web:netstop")[0])
        assert report["first"]["http"] == "200 hello /plain"
        assert report["first"]["connect"] == "200 hello /tunnel"
        for name, got in report["after"].items():
            assert got.startswith("ERR "), (name, got)
        assert report["first"]["direct"].startswith("ERR ")
        # Only the first round reached the server, and only it was counted.
        assert sorted(p for p, _ in web.seen) == ["/plain", "/tunnel"]
        assert counter.flush(conn) == 2
        assert [(c.host, c.verdict, c.n) for c in egress_counts(conn)] == [
            ("allowed.test", "allowed", 2)
        ]
        assert not list(dirs.root().iterdir())  # the run's directory is gone
    finally:
        (folder / "go").write_text("")
        thread.join(60)
        dirs.stop()
        conn.close()
        web.stop()


def test_an_unconfined_run_says_its_network_setting_is_not_enforced(net: NetRun) -> None:
    assert net.reports["netu"]["HTTP_PROXY"] == "(unset)"
    assert (
        "agent network folder=netu: network=proxy is NOT enforced: the agent runs unconfined"
    ) in net.gated.log_text()
    assert "egress proxy open folder=netu" not in net.gated.log_text()
