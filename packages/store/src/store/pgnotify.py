"""Waking up on PostgreSQL: `LISTEN` on the store's changes channel, which every `store.tx`
commit that wrote something notifies, and this process's in-process commit condition (for
`wake_waiters`, seen within `notify.POLL_S`: a notification wakes the socket at once). Used by
`store.notify` for PostgreSQL connections."""

from __future__ import annotations

import threading

from store import connection
from store.notify import wait_until_changed
from store.pgconn import PgConnection
from store.pgnames import CHANGES_CHANNEL


class PgChangeWatcher:
    """Listens from its creation on; each wait returns only on news since the last one."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn
        conn.execute(f"LISTEN {CHANGES_CHANNEL}")
        self._local = connection.local_commit_count()
        self._pending = False  # a notification taken by a pause, not yet reported

    def _notified(self, timeout: float) -> bool:
        """Whether a notification came (those queued already first), waiting up to `timeout`
        for one; every queued one is taken, so one burst of commits is one wake-up."""
        got = False
        for _ in self.conn.raw.notifies(timeout=timeout, stop_after=1):
            got = True
        if got:  # take the rest of a burst without waiting
            for _ in self.conn.raw.notifies(timeout=0):
                pass
        return got

    def changed(self) -> bool:
        """True (and remember it) if a commit happened since the last call."""
        local = connection.local_commit_count()
        notified = self._pending or self._notified(0)
        self._pending = False
        if notified or local != self._local:
            self._local = local
            return True
        return False

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Block until a commit is seen or `timeout` seconds pass; True when one was seen.

        A set `stop` event ends the wait early (returns False).
        """
        return wait_until_changed(self.changed, self._pause, timeout, stop)

    def _pause(self, seconds: float) -> None:
        """Block on the socket: a notification ends the pause at once."""
        self._pending = self._notified(seconds)
