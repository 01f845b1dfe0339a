"""The disk filling up under gated (its database on a small tmpfs): a clear error in the log and
503 to the adapter, no crash, no corruption (`PRAGMA integrity_check`), and normal service once
there is space again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import store
from switchboard.schemas import open_all
from testkit import StandinAdapter, wait_for

BIN = Path(sys.executable).parent
SECRET = "disk-full-secret"
FILLER = "x" * 150_000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (root only: mount needs CAP_SYS_ADMIN)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_is_a_clear_error_and_service_recovers(
    small_disk: Path, tmp_path: Path, free_port: Any, post_until_accepted: Any
) -> None:
    db = small_disk / "messages.db"
    conn = open_all(db)
    store.register_group(conn, "fake:room", "room")
    conn.close()

    adapter = StandinAdapter(tmp_path / "adapter.jsonl").start()
    record = adapter.record
    gated_port = free_port()
    log_path = tmp_path / "gated.log"
    env = {
        **os.environ,
        "SWITCHBOARD_LISTEN": f"127.0.0.1:{gated_port}",
        "SWITCHBOARD_CHANNEL_SECRET": SECRET,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("NOTIFY_SOCKET", None)
    try:
        with log_path.open("ab") as log:
            gated = subprocess.Popen(
                [str(BIN / "gated"), "--db", str(db)],
                env=env,
                cwd=tmp_path,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
    except BaseException:
        adapter.stop()
        raise
    base = f"http://127.0.0.1:{gated_port}"
    try:
        wait = _waiter(gated, log_path)
        wait(lambda: _up(base), "gated's API")
        resp = httpx.post(
            f"{base}/v1/channels/register",
            headers={"Authorization": f"Bearer {SECRET}"},
            json={"name": "fake", "url": adapter.url},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        client = type("Client", (), {"gated": base, "token": resp.json()["token"]})()
        post_until_accepted(client, "fake:room", "before", "before")
        wait(lambda: "echo: before" in record.read_text(), "the answer before the disk fills")

        # Fill the disk through the API with large messages to a chat no group answers.
        statuses = []
        for i in range(100):
            r = httpx.post(
                f"{base}/v1/messages",
                headers={"Authorization": f"Bearer {client.token}"},
                json={"chat_jid": "fake:filler", "id": f"f{i}", "content": FILLER},
                timeout=30,
            )
            statuses.append(r.status_code)
            if r.status_code != 202:
                break
        assert statuses[-1] == 503, statuses
        assert "full" in r.json()["error"] or "retry" in r.json()["error"], r.text
        wait(lambda: "disk is full" in log_path.read_text(), "the full-disk error in the log")
        assert gated.poll() is None, "gated died when the disk filled up"
        check = store.connect(db, readonly=True)
        try:
            assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            check.close()

        # Space comes back: the message that was refused is accepted and answered.
        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
        post_until_accepted(client, "fake:room", "after", "after")
        wait(lambda: "echo: after" in record.read_text(), "the answer once space is back")
        texts = [line for line in record.read_text().splitlines() if "echo:" in line]
        assert len(texts) == 2, texts
        assert gated.poll() is None
    finally:
        adapter.stop()
        gated.send_signal(signal.SIGTERM)
        code = gated.wait(timeout=30)
    assert code == 0, log_path.read_text()[-3000:]
    final = store.connect(db, readonly=True)
    try:
        assert final.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        final.close()


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/v1/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _waiter(proc: subprocess.Popen[bytes], log: Path) -> Any:
    """`wait_for` that fails at once, with gated's log, when gated has exited."""

    def wait(predicate: Any, what: str, timeout: float = 30.0) -> Any:
        def check() -> Any:
            if proc.poll() is not None:
                pytest.fail(f"gated exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            return predicate()

        return wait_for(check, timeout, what, interval=0.05)

    return wait
