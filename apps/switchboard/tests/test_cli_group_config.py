"""`switchboard group config FOLDER` as a user runs it (a real process on a real file): show the
settings (text, --json, defaults marked), change them with --set/--unset, and bad input --
unknown key, bad value, a mount outside the roots -- as one line on stderr, exit 2, nothing
written."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import store
from switchboard.schemas import open_all

SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")


def start(db: Path, *args: str, roots: list[Path] | None = None) -> subprocess.Popen[str]:
    """`switchboard group config ARGS --db DB`, with SWITCHBOARD_MOUNT_ROOTS set to `roots`."""
    env = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_MOUNT_ROOTS"}
    if roots is not None:
        env["SWITCHBOARD_MOUNT_ROOTS"] = os.pathsep.join(str(r) for r in roots)
    return subprocess.Popen(
        [SWITCHBOARD, "group", "config", *args, "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=next(p for p in db.parents if p.is_dir()),
        env=env,
    )


def finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def config(
    db: Path, *args: str, roots: list[Path] | None = None
) -> subprocess.CompletedProcess[str]:
    return finish(start(db, *args, roots=roots))


def dump(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Every schema, and chat web:demo registered to folder demo with an agent command."""
    path = tmp_path / "state" / "messages.db"
    conn = open_all(path)
    store.register_group(conn, "web:demo", "demo", agent_config={"command": "my-agent"})
    conn.close()
    return path


def table(stdout: str) -> dict[str, tuple[str, bool]]:
    """key -> (value, marked default) from the text output's table (key, value, from)."""
    return {key: (value, source == "default") for key, (value, source) in sources(stdout).items()}


def sources(stdout: str) -> dict[str, tuple[str, str]]:
    """key -> (value, where it comes from) from the text output's table."""
    lines = stdout.splitlines()
    dashes = next(i for i, line in enumerate(lines) if line.startswith("---"))
    widths = [len(d) for d in lines[dashes].split("  ")]
    rows = {}
    for line in lines[dashes + 1 :]:
        key = line[: widths[0]].strip()
        value = line[widths[0] + 2 : widths[0] + 2 + widths[1]].strip()
        rows[key] = (value, line[widths[0] + widths[1] + 4 :].strip())
    return rows


def test_show_lists_every_key_with_the_defaults_marked(db: Path) -> None:
    text = config(db, "demo")
    assert text.returncode == 0, text.stderr
    rows = table(text.stdout)
    assert list(rows) == [
        "command", "timeout_s", "stdin", "sandbox", "network", "allow_hosts", "mounts", "memory_mb",
        "pids", "cpu_s", "disk_mb", "env", "secrets", "grants.send_to", "grants.delegate_to",
        "grants.operator", "budget_usd_day", "budget_usd_month",
    ]  # fmt: skip
    assert rows["command"] == ("my-agent", False)
    assert rows["timeout_s"] == ("(gated's --agent-timeout)", True)
    assert rows["sandbox"] == ("auto", True)
    assert rows["memory_mb"] == ("1024", True)
    as_json = config(db, "demo", "--json")
    assert as_json.returncode == 0, as_json.stderr
    shown = json.loads(as_json.stdout)
    assert shown["folder"] == "demo"
    assert shown["settings"] == {
        "command": "my-agent", "timeout_s": None, "stdin": "batch", "sandbox": "auto",
        "network": "none",
        "allow_hosts": [], "mounts": [], "memory_mb": 1024, "pids": 256, "cpu_s": 600,
        "disk_mb": 1024, "env": {}, "secrets": [], "grants.send_to": [], "grants.delegate_to": [],
        "grants.operator": False, "budget_usd_day": None, "budget_usd_month": None,
    }  # fmt: skip
    assert "command" not in shown["defaults"]
    assert set(shown["defaults"]) == set(rows) - {"command"}


def test_set_and_unset_change_the_folder_settings(db: Path, tmp_path: Path) -> None:
    shared = tmp_path / "host" / "shared"
    shared.mkdir(parents=True)
    changed = config(
        db,
        "demo",
        "--set", "sandbox=bwrap",
        "--set", "timeout_s=90",
        "--set", "env.MODE=fast=yes",
        "--set", f"mounts={shared}:/data:rw",
        "--set", "allow_hosts=api.anthropic.com,*.github.com:443",
        "--set", "secrets=anthropic",
        roots=[tmp_path / "host"],
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.splitlines()[0] == (
        "demo: set sandbox, timeout_s, env.MODE, mounts, allow_hosts, secrets"
    )
    rows = table("\n".join(changed.stdout.splitlines()[1:]))
    assert rows["sandbox"] == ("bwrap", False)
    assert rows["env.MODE"] == ("fast=yes", False)
    assert rows["mounts"] == (f"{shared}:/data:rw", False)
    conn = store.connect(db)
    got = store.folder_settings(conn, "demo")
    assert (got.sandbox, got.timeout_s, got.env) == ("bwrap", 90.0, (("MODE", "fast=yes"),))
    assert got.mounts == (store.Mount(str(shared), "/data", True),)
    assert (got.allow_hosts, got.secrets) == (
        ("api.anthropic.com", "*.github.com:443"),
        ("anthropic",),
    )
    again = config(db, "demo", "--unset", "sandbox", "--unset", "env.MODE", "--set", "pids=64")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == "demo: set pids; unset sandbox, env.MODE"
    got = store.folder_settings(conn, "demo")
    assert (got.sandbox, got.env, got.pids, got.timeout_s) == ("auto", (), 64, 90.0)
    shown = json.loads(config(db, "demo", "--json").stdout)
    assert "sandbox" in shown["defaults"]
    assert "pids" not in shown["defaults"]
    conn.close()


def test_bad_input_is_one_line_exit_2_and_writes_nothing(db: Path, tmp_path: Path) -> None:
    roots = tmp_path / "host"
    (roots / "data").mkdir(parents=True)
    (roots / "to-etc").symlink_to("/etc")
    (roots / "to-db").symlink_to(db)
    store_dir = db.parent
    cases: list[tuple[list[str], str, list[Path] | None]] = [
        (["--set", "colour=blue"], "error: colour: unknown setting; the keys are command,", None),
        (["--unset", "colour"], "error: colour: unknown setting", None),
        (["--set", "pids=5"], "error: pids: must be from 8 to 4096, got 5", None),
        (["--set", "sandbox=docker"], "error: sandbox: 'docker' is not one of auto, bwrap", None),
        (["--set", "timeout_s=0"], "error: timeout_s: must be more than 0", None),
        (["--set", "env.PATH=/x"], "error: env.PATH: PATH is set by gated", None),
        (["--set", "allow_hosts=http://x"], "error: allow_hosts: 'http://x' is not a host", None),
        (["--set", "secrets=Bad"], "error: secrets: 'Bad' is not a secret name", None),
        (["--set", "pids"], "error: --set: 'pids' is not KEY=VALUE", None),
        (["--set", "pids=16", "--set", "pids=32"], "error: pids: is set twice", None),
        (["--set", "pids=16", "--unset", "pids"], "error: pids: is both set and unset", None),
        # The good key before the bad one is not written either.
        (["--set", "pids=16", "--set", "memory_mb=1"], "error: memory_mb: must be from 64", None),
        (
            ["--set", f"mounts={roots}/data:/d"],
            "error: mounts: no mount roots are configured",
            None,
        ),
        (["--set", "mounts=/etc:/etc"], "error: mounts: /etc resolves to /etc, outside", [roots]),
        (["--set", f"mounts={roots}/to-etc:/e"], "resolves to /etc, outside the mount", [roots]),
        (["--set", f"mounts={roots}/../state:/s"], "error: mounts:", [roots]),
        (["--set", f"mounts={store_dir}:/s"], "overlaps", [tmp_path]),
        (["--set", f"mounts={roots}/to-db:/s"], "overlaps", [tmp_path]),
        (["--set", f"mounts={roots}/data:/proc/x"], "error: mounts: inside path", [roots]),
        (["--set", "pids=16", "--db-typo"], "error: No such option: --db-typo", None),
    ]
    before = dump(db)
    # Started together: the CLI's start-up dominates.
    procs = [start(db, "demo", *args, roots=roots_env) for args, _, roots_env in cases]
    for (args, expected, _), running in zip(cases, procs, strict=True):
        proc = finish(running)
        assert proc.returncode == 2, (args, proc)
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, (args, proc.stderr)
        assert expected in lines[0], (args, lines[0])
        assert proc.stdout == "", (args, proc.stdout)
    assert dump(db) == before


def test_an_unknown_folder_is_an_error_and_no_database_is_made(db: Path, tmp_path: Path) -> None:
    before = dump(db)
    proc = config(db, "demoo", "--set", "pids=16")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: no group folder 'demoo'")
    assert dump(db) == before
    bad = config(db, "../etc")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: folder: '../etc' is not a safe folder name")
    missing = tmp_path / "nowhere" / "messages.db"
    proc = config(missing, "demo")
    assert proc.returncode == 2
    assert not missing.parent.exists()
