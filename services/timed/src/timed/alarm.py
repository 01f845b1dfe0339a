"""The alarm clock: one APScheduler (3.x) date job armed at the earliest `next_run`.

APScheduler only decides *when* to look; the database decides *what* is due. When the job
rings, its single worker thread (own sqlite connection) runs `fire_due`, then re-arms for the
new earliest `next_run`. The daemon's main thread calls `sync()` whenever `wait_for_change`
reports a commit (a task added, paused, removed by the CLI or dashd) and re-arms if the
earliest time moved. Each arming is a new job id, so APScheduler removing a spent date job
can never remove its successor.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import store
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from store import iso, utcnow

from timed.firing import earliest_next_run, fire_due

log = logging.getLogger(__name__)

RETRY_S: Final = 1.0
# After a ring, the next one is at least this far away: tasks due in a dense stream are fired
# in batches (each up to this much late) instead of one ring, one transaction per task.
MIN_GAP_S: Final = 0.05


class Alarm:
    """Rings at the earliest due time and fires what is due then; thread-safe `sync()`."""

    def __init__(self, db_path: str, *, fired_by: str, batch: int) -> None:
        self.db_path = db_path
        self.fired_by = fired_by
        self.batch = batch
        self.fired_total = 0
        self.rings = 0
        self._lock = threading.Lock()
        self._armed: datetime | None = None
        self._not_before = datetime.min.replace(tzinfo=UTC)
        self._job_id: str | None = None
        self._firing = False
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        # The worker of APScheduler's pool (one thread) fires with its own connection.
        self._conns = store.ThreadConnections(db_path)
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        """Stop ringing; waits for a firing in progress to finish its current batch."""
        # Under the lock, so no thread is inside _arm: APScheduler's shutdown holds its job
        # store lock while it waits for the worker, and a worker re-arming would deadlock.
        with self._lock:
            self._stopping.set()
        self._scheduler.shutdown(wait=True)
        self._conns.close()

    @property
    def armed_for(self) -> datetime | None:
        return self._armed

    def sync(self, conn: sqlite3.Connection) -> None:
        """Re-arm for the earliest next_run (no-op while firing: the firing re-arms itself)."""
        with self._lock:
            if not self._firing and not self._stopping.is_set():
                self._arm(earliest_next_run(conn))

    def _arm(self, when: datetime | None) -> None:
        if when is not None:
            when = max(when, self._not_before)
        if when == self._armed and (when is None or self._job_id is not None):
            return
        if self._job_id is not None:
            # Already rang and was removed by APScheduler: nothing to cancel.
            with contextlib.suppress(JobLookupError):
                self._scheduler.remove_job(self._job_id)
            self._job_id = None
        self._armed = when
        if when is None:
            log.debug("alarm idle: no active task")
            return
        self._job_id = f"alarm-{next(self._ids)}"
        self._scheduler.add_job(
            self._ring, DateTrigger(run_date=when, timezone=UTC), id=self._job_id
        )
        log.debug("alarm armed for=%s job=%s", iso(when), self._job_id)

    def _ring(self) -> None:
        with self._lock:
            self._firing = True
            self._armed = None
            self._job_id = None
        rang_at = utcnow()
        pause = MIN_GAP_S
        conn: sqlite3.Connection | None = None
        try:
            conn = self._conns.get()
            fired = fire_due(
                conn,
                rang_at,
                fired_by=self.fired_by,
                batch=self.batch,
                clock=utcnow,
                stop=self._stopping,
            )
            self.fired_total += fired
            self.rings += 1
            if fired:
                log.debug("fired messages=%d", fired)
        except Exception:
            log.exception("firing due tasks failed; retrying in %.0fs", RETRY_S)
            pause = RETRY_S
        with self._lock:
            self._firing = False
            if self._stopping.is_set():
                return
            self._not_before = rang_at + timedelta(seconds=pause)
            try:
                # Without a connection, stay disarmed: the main thread's next sync re-arms.
                if conn is not None:
                    self._arm(earliest_next_run(conn))
            except Exception:
                log.exception("re-arming failed; the next sync will re-arm")

    def info(self) -> dict[str, Any]:
        return {
            "armed_for": iso(self._armed) if self._armed else None,
            "fired_total": self.fired_total,
        }
