"""Declared mounts in a real sandbox: bound read-only unless `:rw`, and checked again at every
run by the store's one rule (`store.check_mounts`, the same as `group config --set mounts=`), so
a mount that has become a symlink to a forbidden path since it was set is refused, not bound."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import store
from gated_loop_support import group_dir, put, reply_texts, runs, start_gated, stop_gated
from gated_loop_support import wait_for as _wait_for

# Reads /ref/data.txt, writes /out/made.txt, tries to write into the read-only /ref.
MOUNT_AGENT = r"""
import json, sys
json.loads(sys.stdin.readline())
report = {"ref": open("/ref/data.txt").read()}
open("/out/made.txt", "w").write("from the sandbox")
try:
    open("/ref/pwned", "w").write("x")
    report["ref_writable"] = True
except OSError as exc:
    report["ref_writable"] = False
print(json.dumps({"type": "message", "text": json.dumps(report)}))
print(json.dumps({"type": "result", "status": "ok"}))
"""


def test_mounts_are_bound_and_rechecked_at_every_run(bwrap: str, data_dir: Path) -> None:
    # One mount root above both the database's directory and the shared data, so the swapped
    # mount below is refused for what it shows, not for being outside the roots.
    db = data_dir / "state" / "messages.db"
    db.parent.mkdir()
    store.open(db).close()
    shared = data_dir / "shared"
    (shared / "ref").mkdir(parents=True)
    (shared / "out").mkdir()
    (shared / "ref" / "data.txt").write_text("reference data")
    gated = start_gated(
        db, "--mount-root", str(data_dir), env={"SWITCHBOARD_SANDBOX": "bwrap"}
    )  # fmt: skip
    conn = gated.conn()
    try:
        other = group_dir(db, "other")
        (other / "secret.txt").write_text("other group's secret")
        store.register_group(conn, "web:other", "other")
        folder = group_dir(db, "mounts")
        (folder / "agent.py").write_text(MOUNT_AGENT)
        store.register_group(
            conn, "web:mounts", "mounts", agent_config={"command": f"{sys.executable} agent.py"}
        )
        store.update_folder_settings(
            conn,
            "mounts",
            {"mounts": f"{shared / 'ref'}:/ref,{shared / 'out'}:/out:rw"},
            (),
            mount_roots=[data_dir],
        )

        put(conn, "web:mounts", "first")
        _wait_for(lambda: reply_texts(conn, "web:mounts"), 30, "the mount agent's report")
        report = json.loads(reply_texts(conn, "web:mounts")[0])
        assert report == {"ref": "reference data", "ref_writable": False}
        assert (shared / "out" / "made.txt").read_text() == "from the sandbox"
        assert not (shared / "ref" / "pwned").exists()

        # The read-only mount's directory is swapped for a symlink to another group's folder.
        shutil.rmtree(shared / "ref")
        (shared / "ref").symlink_to(other)
        put(conn, "web:mounts", "second")
        _wait_for(
            lambda: any(r["result"] == "error" for r in runs(conn, "mounts")),
            30,
            "the second run refused",
        )
        refused = next(r for r in runs(conn, "mounts") if r["result"] == "error")
        assert refused["error"].startswith("agent not started: mounts:"), dict(refused)
        assert "overlaps" in refused["error"]
        assert len(reply_texts(conn, "web:mounts")) == 1
    finally:
        conn.close()
        assert stop_gated(gated) == 0, gated.log_text()


@pytest.mark.parametrize(
    ("path", "why"),
    [
        # The database's directory holds secrets.key and the WAL: nothing in it is mounted.
        ("backups", "overlaps"),
        # A group's own folder is already its working directory; none of it is mounted twice.
        ("groups/demo/sub", "overlaps"),
        ("groups/other", "overlaps"),
    ],
)
def test_run_time_check_is_the_set_time_rule(data_dir: Path, path: str, why: str) -> None:
    db = data_dir / "messages.db"
    for d in ("groups/demo/sub", "groups/other", "backups"):
        (data_dir / d).mkdir(parents=True)
    conn = store.open(db)
    try:
        mount = store.Mount(str(data_dir / path), "/x")
        with pytest.raises(store.InvalidInput) as err:
            store.check_mounts(conn, [mount], [data_dir])
        assert why in str(err.value)
    finally:
        conn.close()
