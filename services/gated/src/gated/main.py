"""The gated daemon: the gateway loop on the main thread; the channel API, delivery worker,
adapter health monitor and email channel on threads (`daemonkit.worker`), each with its own
connection. Start-up applies gated's schema (and onbod's and timed's, which its commands and
the agents' tools write) once."""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
from datetime import datetime
from typing import Any, Final

import store
from daemonkit.alerts import Alerter
from daemonkit.listener import HttpListener
from daemonkit.metrics import new_registry
from daemonkit.runner import run_daemon
from daemonkit.worker import Threads
from onbod import migrations as onbod_migrations
from timed import migrations as timed_migrations

from gated import __version__, config, migrations
from gated.adapters import HealthMonitor, channel_summary
from gated.channels import create_app
from gated.config import Config, build_parser
from gated.delivery import DeliveryWorker
from gated.email.service import EmailChannel
from gated.http_limits import server_options
from gated.loop import Gateway
from gated.metrics import GatedMetrics
from gated.sandbox import cgroup_parent
from gated.sandbox.cgroups import remove_parent
from gated.sandbox.report import (
    network_full_folders,
    sandbox_info,
    warn_network_full,
    warn_operators,
)
from gated.senders import ChannelSender

__all__ = ["Daemon", "build_parser", "main"]

log = logging.getLogger(__name__)

AGENT_GRACE_S = 2.0  # on SIGTERM, running agents get this long before they are terminated
THREAD_JOIN_S = 5.0
# The schemas gated writes: its own, onbod's (the /approve and /reject commands) and timed's
# (the agents' schedule_task tool, through timed.api).
SCHEMAS: Final[store.Schemas] = {
    "gated": migrations.MIGRATIONS,
    "onbod": onbod_migrations.MIGRATIONS,
    "timed": timed_migrations.MIGRATIONS,
}


class Daemon:
    """The Service the Runner drives: gateway step on the main thread, components on threads."""

    name = "gated"
    version = __version__

    def __init__(self, cfg: Config, conn: sqlite3.Connection) -> None:
        self.cfg = cfg
        self.conn = conn
        self.gateway = Gateway(cfg, conn)
        self.halt = threading.Event()
        self.threads = Threads()
        self.api: HttpListener | None = None
        self.email: EmailChannel | None = None
        self.metrics: GatedMetrics | None = None
        self.sandbox: dict[str, Any] = {}
        # gated watches the other daemons, the outbox and the chats; dashd watches gated.
        self.alerter = Alerter(
            conn,
            ("timed", "onbod", "dashd"),
            cfg.alert_stale_s,
            outbox=True,
            chats=True,
            also=(f"email:{cfg.alert_email}",) if cfg.alert_email else (),
        )

    def start(self) -> None:
        self.sandbox = sandbox_info(self.gateway.sandbox_spec(), self.gateway.sandbox)
        warn_operators(self.conn, self.sandbox)
        warn_network_full(self.conn, network_full_folders(self.conn))
        if self.cfg.egress_resolve:
            log.warning(
                "egress proxy test resolution in use (--egress-resolve, for tests only): %s",
                ",".join(f"{name}={ip}" for name, ip in self.cfg.egress_resolve),
            )
        self.gateway.start()
        self.start_components()

    def step(self, now: datetime) -> float | None:
        if self.api is not None:
            self.api.check()
        self.threads.check()
        wake = self.gateway.step(now)
        alert_due = self.alerter.step(now)
        return alert_due if wake is None else min(wake, alert_due)

    def stop(self) -> None:
        self.gateway.stop(AGENT_GRACE_S)
        self.halt.set()
        if self.api is not None:
            self.api.stop()
        self.threads.join(THREAD_JOIN_S)
        if self.metrics is not None:
            self.metrics.close()
        parent, _ = cgroup_parent()
        if parent is not None:
            remove_parent(parent)

    def info(self) -> dict[str, Any]:
        data = self.gateway.info()
        data["sandbox"] = dict(self.sandbox)
        try:
            data["sandbox"]["network_full"] = network_full_folders(self.conn)
        except Exception:
            log.exception("network=full folders unreadable")
        try:
            data["adapters"] = channel_summary(self.conn)
        except Exception:
            log.exception("adapter summary failed")
        if self.email is not None:
            data["email"] = self.email.status()
        return data

    def start_components(self) -> None:
        cfg = self.cfg
        senders: dict[str, ChannelSender] = {}
        if cfg.email is not None:
            email = self.email = EmailChannel(cfg)
            senders["email"] = email.sender()
            self.threads.start("email", lambda: email.run(self.halt))
        self.metrics = GatedMetrics(cfg.db, self.gateway.queue_depth)
        self.api = HttpListener(
            "channel API",
            create_app(cfg, new_registry(self.metrics)),
            cfg.listen_host,
            cfg.listen_port,
            log_level="warning",
            **server_options(),
        )
        port = self.api.start()
        log.info("channel API listening url=http://%s:%d/", cfg.listen_host, port)
        worker = DeliveryWorker(cfg, senders)
        self.threads.start("delivery", lambda: worker.run(self.halt))
        monitor = HealthMonitor(cfg)
        self.threads.start("adapter-health", lambda: monitor.run(self.halt))


def main(argv: list[str] | None = None) -> int:
    cfg = config.load(argv)
    return run_daemon(cfg, SCHEMAS, lambda conn: Daemon(cfg, conn))


if __name__ == "__main__":
    sys.exit(main())
