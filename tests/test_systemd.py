"""The systemd units in deploy/systemd/: `systemd-analyze verify` accepts them, they carry the
directives issue 9 requires, and the daemons really run under MemoryDenyWriteExecute."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import store

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "deploy" / "systemd"
BIN = Path(sys.executable).parent
DAEMONS = ("gated", "timed", "onbod", "dashd")
SERVICES = [f"switchboard-{d}.service" for d in DAEMONS]
# Platform adapters: enabled one by one (each needs its token), so the target does not want
# them; they stop and restart with it (PartOf) and install into it (WantedBy).
ADAPTERS = {
    "switchboard-telegram.service": ("switchboard-telegram", "TELEGRAM_BOT_TOKEN"),
    "switchboard-matrix.service": ("switchboard-matrix", "MATRIX_ACCESS_TOKEN"),
    "switchboard-slack.service": ("switchboard-slack", "SLACK_BOT_TOKEN"),
    "switchboard-discord.service": ("switchboard-discord", "DISCORD_BOT_TOKEN"),
}
UNIT_FILES = [*SERVICES, *ADAPTERS]
INSTALL_DIR = "/opt/switchboard"
# The only complaint verify may make about the shipped files: this machine has no checkout at
# /opt/switchboard (docs/deploy.md installs one there), so the ExecStart binaries are missing.
# The `switchboard` user is not checked by verify (it exists only at run time), so no warning
# about it is tolerated. A copy with the paths pointed at this checkout must verify cleanly.
TOLERATED = re.compile(
    r"^switchboard-(gated|timed|onbod|dashd|telegram|matrix|slack|discord)\.service: Command "
    + re.escape(INSTALL_DIR)
    + r"/\.venv/bin/(gated|timed|onbod|dashd|switchboard-telegram|switchboard-matrix"
    r"|switchboard-slack|switchboard-discord) is not executable: No such file or directory$"
)

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "SystemCallFilter": "@system-service",
    "CapabilityBoundingSet": "",
}


def directives(path: Path) -> dict[str, list[str]]:
    """key -> every value it is given (systemd allows repeated keys, e.g. Environment)."""
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def verify(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return subprocess.run(
        [exe, "verify", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0"},
    )


def test_shipped_units_verify() -> None:
    files = [UNITS / s for s in UNIT_FILES] + [UNITS / "switchboard.target"]
    proc = verify(files)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    unexpected = [ln for ln in lines if not TOLERATED.match(ln)]
    assert not unexpected, "\n".join(lines)


def test_units_pointed_at_this_checkout_verify_cleanly(tmp_path: Path) -> None:
    for f in [*UNIT_FILES, "switchboard.target"]:
        text = (UNITS / f).read_text().replace(INSTALL_DIR, str(ROOT))
        (tmp_path / f).write_text(text)
    proc = verify(sorted(tmp_path.iterdir()))
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0, out
    assert not out


@pytest.mark.parametrize("service", SERVICES)
def test_service_has_required_directives(service: str) -> None:
    d = directives(UNITS / service)
    name = service.removeprefix("switchboard-").removesuffix(".service")
    assert d["Type"] == ["notify"]
    assert d["WatchdogSec"] == ["30"]
    assert d["Restart"] == ["on-failure"]
    assert d["User"] == ["switchboard"]
    assert d["StateDirectory"] == ["switchboard"]
    assert "SWITCHBOARD_DB=/var/lib/switchboard/messages.db" in d["Environment"]
    assert d["EnvironmentFile"] == ["-/etc/switchboard/env"]
    assert d["ExecStart"] == [f"{INSTALL_DIR}/.venv/bin/{name}"]
    assert d["PartOf"] == ["switchboard.target"]
    assert d["WantedBy"] == ["switchboard.target"]
    assert "TimeoutStopSec" in d
    expected = dict(HARDENING)
    if name == "gated":
        # bubblewrap's mounts happen in gated's child processes, under its seccomp filter.
        expected["SystemCallFilter"] = "@system-service @mount"
    for key, value in expected.items():
        assert d.get(key) == [value], f"{service}: {key}={d.get(key)}, want {value!r}"
    if name == "gated":
        # Agents run sandboxed, never unconfined, with per-run cgroups in the delegated subtree.
        assert "SWITCHBOARD_REQUIRE_SANDBOX=1" in d["Environment"]
        assert d["Delegate"] == ["yes"]
        assert d["RestrictNamespaces"] == ["user mnt pid ipc uts net cgroup"]
        # Agents inherit it and JIT runtimes (Node.js for Claude Code) need W+X memory.
        assert "MemoryDenyWriteExecute" not in d
    else:
        assert d["MemoryDenyWriteExecute"] == ["yes"]


@pytest.mark.parametrize("unit", list(ADAPTERS))
def test_adapter_unit_has_required_directives(unit: str) -> None:
    d = directives(UNITS / unit)
    program, token_env = ADAPTERS[unit]
    assert d["Type"] == ["notify"]
    assert d["WatchdogSec"] == ["30"]
    assert d["Restart"] == ["on-failure"]
    assert d["RestartPreventExitStatus"] == ["2"]
    assert d["User"] == ["switchboard"]
    assert d["ExecStart"] == [f"{INSTALL_DIR}/.venv/bin/{program}"]
    # The token from an EnvironmentFile, never the command line.
    assert token_env not in " ".join(d["ExecStart"] + d["Environment"])
    assert "-/etc/switchboard/env" in d["EnvironmentFile"]
    assert any(f.endswith(".env") and not f.startswith("-") for f in d["EnvironmentFile"])
    assert d["PartOf"] == ["switchboard.target"]
    assert d["WantedBy"] == ["switchboard.target"]
    assert d["MemoryDenyWriteExecute"] == ["yes"]
    for key, value in HARDENING.items():
        assert d.get(key) == [value], f"{unit}: {key}={d.get(key)}, want {value!r}"


def test_target_wants_every_service() -> None:
    d = directives(UNITS / "switchboard.target")
    wanted = " ".join(d["Wants"]).split()
    assert sorted(wanted) == sorted(SERVICES)
    assert d["WantedBy"] == ["multi-user.target"]


# Turns on the kernel's W^X policy for this process and everything it executes (PR_SET_MDWE,
# Linux >= 6.3; what systemd >= 254 uses for MemoryDenyWriteExecute=yes, older systemd gets the
# same effect with a seccomp filter), then execs argv.
MDWE_LAUNCHER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit(f"PR_SET_MDWE failed: errno {ctypes.get_errno()}")
os.execv(sys.argv[1], sys.argv[1:])
"""
# What the daemons' dependencies do at run time that could need W+X memory.
LIBRARY_WORKOUT = """
import mmap, ssl, sqlite3, ctypes
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    raise SystemExit("W+X mapping was allowed: the policy is not active")
except PermissionError:
    pass
import argon2, jwt, jinja2, fastapi, pydantic, uvicorn, starlette.applications, croniter
import aiohttp.web, telegram, telegram.ext, httpx
import nio, nio.crypto
import slack_bolt.async_app, slack_sdk.socket_mode.aiohttp, slack_sdk.web.async_client
import discord, discord.gateway, zlib
import apscheduler.schedulers.background, imapclient
h = argon2.PasswordHasher().hash("pw")
assert argon2.PasswordHasher().verify(h, "pw")
assert jwt.decode(jwt.encode({"a": 1}, "k" * 32, "HS256"), "k" * 32, ["HS256"]) == {"a": 1}
assert jinja2.Environment(autoescape=True).from_string("{{ x }}").render(x="<") == "&lt;"
class M(pydantic.BaseModel):
    n: int
assert M.model_validate({"n": "3"}).n == 3
ssl.create_default_context()
sqlite3.connect(":memory:").execute("select 1")
assert ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda v: v + 1)(1) == 2
print("ok")
"""


def require_mdwe() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", MDWE_LAUNCHER, "/bin/true"], capture_output=True, timeout=30
    )
    if probe.returncode != 0:
        pytest.skip(f"kernel lacks PR_SET_MDWE (Linux >= 6.3): {probe.stderr.decode().strip()}")


def test_dependencies_work_under_memory_deny_write_execute() -> None:
    require_mdwe()
    proc = subprocess.run(
        [sys.executable, "-c", MDWE_LAUNCHER, sys.executable, "-c", LIBRARY_WORKOUT],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok"


@pytest.mark.parametrize("name", ["timed", "onbod", "dashd"])
def test_daemon_runs_with_memory_deny_write_execute(
    name: str, tmp_path: Path, free_port: Callable[[], int]
) -> None:
    require_mdwe()
    db = tmp_path / "messages.db"
    env = {
        **os.environ,
        "SWITCHBOARD_LISTEN": f"127.0.0.1:{free_port()}",
        "SWITCHBOARD_DASHD_LISTEN": f"127.0.0.1:{free_port()}",
    }
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", MDWE_LAUNCHER, str(BIN / name), "--db", str(db)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while heartbeat_pid(db, name) != proc.pid:
            if proc.poll() is not None:
                pytest.fail(f"{name} died under W^X: {proc.communicate()[1].decode()[-3000:]}")
            assert time.monotonic() < deadline, f"{name} never wrote its heartbeat under W^X"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err.decode()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def heartbeat_pid(db: Path, name: str) -> int | None:
    if not db.exists():
        return None
    conn = store.connect(db, readonly=True)
    try:
        row = conn.execute("SELECT pid FROM daemons WHERE name = ?", (name,)).fetchone()
    except sqlite3.OperationalError:
        return None  # the schema is not there yet
    finally:
        conn.close()
    return int(row["pid"]) if row else None
