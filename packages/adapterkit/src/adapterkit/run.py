"""An adapter's whole life: read the config, start the /send server, register with gated,
start the platform, run until SIGTERM/SIGINT, then stop the platform and the server. Exit 0 on
a clean stop, 2 when the token or the channel secret is refused, 1 on anything else."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import signal
from collections.abc import Callable, Sequence
from typing import Final

from aiohttp import web
from daemonkit.logs import setup_logging
from daemonkit.sdnotify import sd_notify

from adapterkit.config import AdapterConfig, read_config
from adapterkit.delivery import Delivery
from adapterkit.errors import RegistrationRefused, Stopping, TokenRejected
from adapterkit.gated_client import GatedClient
from adapterkit.platform import Platform
from adapterkit.server import AdapterServer
from adapterkit.state import SqliteState

log = logging.getLogger(__name__)

STOP_TIMEOUT_S: Final = 10.0
WATCHDOG_S: Final = 10.0
# Libraries that log request URLs (a bot token is part of Telegram's) or every request.
QUIET_LOGGERS: Final = ("telegram", "httpx", "httpcore", "aiohttp.access")


def run(
    factory: Callable[[AdapterConfig], Platform],
    argv: Sequence[str] | None = None,
    *,
    name: str,
    token_env: str,
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    prog: str | None = None,
) -> int:
    """The `main()` of an adapter: its exit status."""
    config = read_config(
        prog=prog or f"switchboard-{name}",
        description=description,
        name=name,
        token_env=token_env,
        argv=argv,
        add_arguments=add_arguments,
    )
    setup_logging(config.log_level, config.log_format)
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return asyncio.run(serve(factory(config), config))
    except KeyboardInterrupt:
        return 0


async def serve(platform: Platform, config: AdapterConfig) -> int:
    """Run one adapter until it is told to stop; its exit status."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    fatal: list[str] = []

    def fail(reason: str) -> None:
        fatal.append(reason)
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    state = SqliteState(config.state_dir)
    pruned = state.prune_sent()
    if pruned:
        log.info("forgot %d old idempotency keys", pruned)
    client = GatedClient(
        gated_url=config.gated_url,
        channel_secret=config.channel_secret,
        name=platform.name,
        capabilities=platform.capabilities,
        send_secret=secrets.token_urlsafe(32),
        stopping=stopping,
    )
    server = AdapterServer(
        platform, state, send_secret=client.send_secret, legacy=lambda: client.legacy
    )
    runner = web.AppRunner(server.app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.listen_host, config.listen_port)
    try:
        await site.start()
    except OSError as exc:
        log.error("could not serve on %s:%d: %s", config.listen_host, config.listen_port, exc)
        await runner.cleanup()
        state.close()
        return 1
    port = runner.addresses[0][1]
    url = config.public_url or f"http://{config.listen_host}:{port}"
    log.info("listening on %s:%d channel=%s", config.listen_host, port, platform.name)
    sink = Delivery(
        client, state, max_file_bytes=platform.capabilities.max_file_bytes, on_fatal=fail
    )
    tasks: list[asyncio.Task[None]] = []
    status = 0
    try:
        registering = asyncio.create_task(register(client, url, fail))
        tasks.append(registering)
        try:
            await platform.start(sink)
        except TokenRejected as exc:
            log.error("%s", exc)
            return 2
        tasks.append(asyncio.create_task(watchdog(client, stopping)))
        await stopping.wait()
        if fatal:
            log.error("%s", fatal[0])
            status = 2
        log.info("stopping channel=%s", platform.name)
    finally:
        stopping.set()
        sd_notify("STOPPING=1")
        try:
            await asyncio.wait_for(platform.stop(), STOP_TIMEOUT_S)
        except Exception:
            log.exception("the platform did not stop cleanly")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.cleanup()
        await client.aclose()
        state.close()
    log.info("stopped channel=%s", platform.name)
    return status


async def register(client: GatedClient, url: str, fail: Callable[[str], None]) -> None:
    try:
        await client.register(url)
    except RegistrationRefused as exc:
        fail(str(exc))
    except Stopping:
        return


async def watchdog(client: GatedClient, stopping: asyncio.Event) -> None:
    """READY=1 once registered, then WATCHDOG=1 while the event loop runs (systemd)."""
    await client.registered.wait()
    sd_notify("READY=1")
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), WATCHDOG_S)
        sd_notify("WATCHDOG=1")
