"""Another process holding the database's write lock for longer than the busy timeout: the
daemons push back (503 to the adapter, retried work) and do not crash; once the lock is
released every accepted message is answered exactly once."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from typing import Any

from .conftest import post_until_accepted  # type: ignore[import-not-found]

HOLD_S = 6.5  # longer than the store's busy_timeout (5 s)
HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO router_state (key, value) VALUES ('fault:holder', 'x') "
             "ON CONFLICT (key) DO UPDATE SET value = 'x'")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def test_long_external_writer_means_back_pressure_not_loss(fresh_system: Any) -> None:
    s = fresh_system
    chat = s.adapter("lk")
    s.cli("group", "add", "lk:room", "lkroom")
    chat.post("lk:room", "warm", "warm up")
    s.wait_for(lambda: "echo: warm up" in chat.texts("lk:room"), 30, "the first answer")

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(s.db), str(HOLD_S)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    accepted: list[int] = []
    errors: list[BaseException] = []

    def traffic() -> None:
        try:
            for i in range(12):
                post_until_accepted(chat, "lk:room", f"m{i}", f"locked {i}")
                accepted.append(i)
        except BaseException as exc:
            errors.append(exc)

    poster = threading.Thread(target=traffic, daemon=True)
    poster.start()
    assert holder.wait(timeout=HOLD_S + 30) == 0
    poster.join(timeout=90)
    assert not errors, errors
    assert accepted == list(range(12))

    expected = Counter(f"echo: locked {i}" for i in range(12))
    s.wait_for(lambda: set(expected) <= set(chat.texts("lk:room")), 60, "every answer")
    assert Counter(s.replies("lk:room")) == expected + Counter(["echo: warm up"])
    assert Counter(chat.texts("lk:room")) == expected + Counter(["echo: warm up"])
    for name, proc in s.procs.items():
        assert proc.poll() is None, f"{name} died while the db was locked:\n{s.log(name)[-3000:]}"
    # Each daemon's heartbeat recovers once the lock is gone.
    for name, proc in s.procs.items():
        s.wait_for(lambda n=name, p=proc: s.heartbeat_fresh(n, p.pid), 20, f"{name} heartbeat")
    assert s.query("PRAGMA integrity_check")[0][0] == "ok"
