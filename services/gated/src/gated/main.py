"""The gated daemon: the gateway loop on the main thread; the channel API, delivery worker,
adapter health monitor and email channel on threads, each with its own connection."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sqlite3
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import store
from daemonkit.errors import Fatal
from daemonkit.listener import HttpListener
from daemonkit.logs import setup_logging
from daemonkit.runner import Runner

from gated import __version__, config
from gated.config import GatedConfig
from gated.http_limits import server_options
from gated.loop import Gateway
from gated.migrations import MIGRATIONS
from gated.senders import ChannelSender

log = logging.getLogger(__name__)

AGENT_GRACE_S = 2.0  # on SIGTERM, running agents get this long before they are terminated
THREAD_JOIN_S = 5.0


def optional(module: str, attr: str) -> Any | None:
    """`module.attr` when that module is in the tree, else None (logged)."""
    if importlib.util.find_spec(module) is None:
        log.info("%s not installed; skipping %s", module, attr)
        return None
    try:
        found = getattr(importlib.import_module(module), attr, None)
    except Exception:
        log.exception("cannot import %s; skipping %s", module, attr)
        return None
    if found is None:
        log.info("%s has no %s yet; skipping it", module, attr)
    return found


class GatedService:
    """The Service the Runner drives: gateway step on the main thread, components on threads."""

    name = "gated"
    version = __version__

    def __init__(self, cfg: GatedConfig, conn: sqlite3.Connection) -> None:
        self.cfg = cfg
        self.conn = conn
        self.gateway = Gateway(cfg, conn)
        self.halt = threading.Event()
        self.threads: list[threading.Thread] = []
        self.api: HttpListener | None = None
        self.crashed: list[str] = []
        self.summary: Callable[[sqlite3.Connection], dict[str, Any]] | None = None
        self.email: Any = None

    def start(self) -> None:
        self.gateway.start()
        self.start_components()

    def step(self, now: datetime) -> float | None:
        if self.api is not None:
            self.api.check()
        if self.crashed:
            raise Fatal(f"the {', '.join(self.crashed)} thread crashed (its traceback is above)")
        return self.gateway.step(now)

    def stop(self) -> None:
        self.gateway.stop(AGENT_GRACE_S)
        self.halt.set()
        if self.api is not None:
            self.api.stop()
        for thread in self.threads:
            thread.join(timeout=THREAD_JOIN_S)
            if thread.is_alive():
                log.warning("thread %s did not stop in %.0fs", thread.name, THREAD_JOIN_S)

    def info(self) -> dict[str, Any]:
        data = self.gateway.info()
        if self.summary is not None:
            try:
                data["adapters"] = self.summary(self.conn)
            except Exception:
                log.exception("adapter summary failed")
        if self.email is not None and hasattr(self.email, "status"):
            data["email"] = self.email.status()
        return data

    def _thread(self, name: str, target: Callable[[], object]) -> None:
        def body() -> None:
            try:
                target()
            except Exception:
                log.exception("%s thread crashed", name)
                self.crashed.append(name)

        thread = threading.Thread(target=body, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def start_components(self) -> None:
        cfg = self.cfg
        senders: dict[str, ChannelSender] = {}
        if cfg.email is not None:
            email_cls = optional("gated.email.service", "EmailChannel")
            if email_cls is not None:
                email = self.email = email_cls(cfg)
                senders["email"] = email.sender()
                self._thread("email", lambda: email.run(self.halt))
        create_app = optional("gated.channels", "create_app")
        if create_app is not None:
            self.api = HttpListener(
                "channel API",
                create_app(cfg),
                cfg.listen_host,
                cfg.listen_port,
                log_level="warning",
                **server_options(),
            )
            port = self.api.start()
            log.info("channel API listening url=http://%s:%d/", cfg.listen_host, port)
        worker_cls = optional("gated.delivery", "DeliveryWorker")
        if worker_cls is not None:
            worker = worker_cls(cfg, senders)
            self._thread("delivery", lambda: worker.run(self.halt))
        monitor_cls = optional("gated.adapters", "HealthMonitor")
        if monitor_cls is not None:
            monitor = monitor_cls(cfg)
            self._thread("adapter-health", lambda: monitor.run(self.halt))
        self.summary = optional("gated.adapters", "channel_summary")


def main(argv: list[str] | None = None) -> int:
    cfg = config.load(argv)
    setup_logging(cfg.log_level, cfg.log_format)
    conn = store.open(cfg.db)
    store.migrate_service(conn, "gated", MIGRATIONS)
    return Runner(GatedService(cfg, conn), conn).run()


if __name__ == "__main__":
    sys.exit(main())
