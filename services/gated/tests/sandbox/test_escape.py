"""The escape suite: a hostile agent in a real bubblewrap sandbox tries to read, write, reach
and signal what it must not and to exhaust the host; every attempt fails, gated and another
group keep answering, and session_log names each limit hit."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import sys
from pathlib import Path

import store
from gated_loop_support import Gated, group_dir, put, reply_texts, runs, start_gated, stop_gated
from gated_loop_support import wait_for as _wait_for

CANARIES = {
    "SWITCHBOARD_CHANNEL_SECRET": "canary-channel-7f3e9a",
    "SWITCHBOARD_DASHD_SECRET": "canary-dashd-41c2d8",
    "SWITCHBOARD_TEST_SECRET": "canary-granted-9b0e11",
}
HERE = Path(__file__).resolve().parent
OTHER_SECRET = "canary-other-folder-5d6a7b"
LIMITS = ("--agent-memory-mb", "64", "--agent-pids", "32", "--agent-disk-mb", "8")
LIMITED = {"forkbomb": "pids", "memory": "memory", "disk": "disk", "cpu": "cpu"}


def api_port(gated: Gated) -> int:
    for line in gated.log_text().splitlines():
        if "channel API listening url=" in line:
            return int(line.rsplit(":", 1)[1].strip("/"))
    raise AssertionError(gated.log_text())


def hostile_group(conn: sqlite3.Connection, db: Path, folder: str) -> Path:
    path = group_dir(db, folder)
    shutil.copy(HERE / "hostile.py", path / "hostile.py")
    store.register_group(
        conn, f"web:{folder}", folder, agent_config={"command": f"{sys.executable} hostile.py"}
    )
    return path


def results(conn: sqlite3.Connection, folder: str) -> list[str]:
    return [r["result"] for r in runs(conn, folder) if r["result"]]


def test_a_hostile_agent_gets_nothing_and_its_limits_are_named(bwrap: str, data_dir: Path) -> None:
    db = data_dir / "messages.db"
    store.open(db).close()
    server = socket.create_server(("127.0.0.1", 0))
    gated = start_gated(
        db, "--agent-timeout", "30", "--agent-cpu-s", "2", *LIMITS,
        env={**CANARIES, "SWITCHBOARD_SANDBOX": "auto"},
    )  # fmt: skip
    conn = gated.conn()
    try:
        other = group_dir(db, "other")
        (other / "secret.txt").write_text(OTHER_SECRET)
        store.register_group(conn, "web:other", "other")
        folder = hostile_group(conn, db, "hostile")
        (folder / "link_shadow").symlink_to("/etc/shadow")
        (folder / "link_other").symlink_to(other / "secret.txt")
        (folder / "link_db").symlink_to(db)
        for mode in LIMITED:
            hostile_group(conn, db, f"hostile-{mode}")

        put(conn, "web:other", "before")
        task = {
            "mode": "escape",
            "db": str(db),
            "other": str(other),
            "canaries": [*CANARIES.values(), OTHER_SECRET],
            "gated_port": api_port(gated),
            "server_port": server.getsockname()[1],
            "gated_pid": gated.proc.pid,
        }
        put(conn, "web:hostile", json.dumps(task))
        for mode in LIMITED:
            put(conn, f"web:hostile-{mode}", json.dumps({"mode": mode}))

        _wait_for(lambda: reply_texts(conn, "web:hostile"), 30, "the hostile agent's report")
        report = json.loads(reply_texts(conn, "web:hostile")[0])
        got = {name: value for name, value in report.items() if value is not None}
        assert got == {}, got
        assert len(report) >= 25

        for mode, limit in LIMITED.items():
            _wait_for(
                lambda m=mode, li=limit: li in results(conn, f"hostile-{m}"),
                30,
                f"the {mode} run killed for its {limit} limit",
            )
            row = next(r for r in runs(conn, f"hostile-{mode}") if r["result"] == limit)
            assert limit in row["error"], dict(row)
            assert (row["limit_hit"], row["sandbox"]) == (limit, "bwrap"), dict(row)
            assert "survived" not in reply_texts(conn, f"web:hostile-{mode}")

        # gated and the other group went on answering all along.
        assert gated.proc.poll() is None
        put(conn, "web:other", "after")
        _wait_for(
            lambda: reply_texts(conn, "web:other") == ["echo: before", "echo: after"],
            30,
            "the other group's answers",
        )
        # No canary left the sandbox: not in a reply, not in a file the agent could write.
        outbound = "\n".join(
            r[0] for r in conn.execute("SELECT content FROM messages WHERE is_from_me = 1")
        )
        written = "".join(
            p.read_text(errors="replace")
            for p in db.parent.glob("groups/hostile*/**/*")
            if p.is_file() and not p.is_symlink() and p.name != "fill.bin"
        )
        for canary in [*CANARIES.values(), OTHER_SECRET]:
            assert canary not in outbound
            assert canary not in written
        assert not list(db.parent.rglob("pwned"))
    finally:
        conn.close()
        server.close()
        assert stop_gated(gated) == 0, gated.log_text()
