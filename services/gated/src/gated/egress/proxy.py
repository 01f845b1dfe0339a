"""gated's egress proxy for `network=proxy` runs: per run, an HTTP/1.1 proxy on the unix socket
`egress.sock` in the run's private directory (bound into the sandbox, which has no network of
its own: this socket is its only way out). `CONNECT host:port` opens a tunnel, an absolute-form
`http://` request is forwarded; only hosts in the group's `allow_hosts` that resolve to public
addresses are reached. Every attempt is logged and counted (`EgressCounter`).

Like the credential proxy it runs its own event loop on one thread of gated's process, started
on first use: egress traffic never waits behind credential-proxy traffic, nor the reverse."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import h11
import store

from gated.egress.counts import EgressCounter, Verdict
from gated.egress.relay import forward, read_head, reply, tunnel
from gated.egress.rules import (
    BadTarget,
    IPAddress,
    Rule,
    Target,
    is_public,
    matching_rule,
    parse_authority,
    parse_rules,
    parse_url_host,
    public_addresses,
)
from gated.rundir import RunDirs

log = logging.getLogger(__name__)

SOCKET_NAME: Final = "egress.sock"
MAX_HEADER_BYTES: Final = 16 * 1024
HEAD_TIMEOUT_S: Final = 30.0  # to send a whole request head
RESOLVE_TIMEOUT_S: Final = 10.0
CONNECT_TIMEOUT_S: Final = 10.0
MAX_CONNECTIONS: Final = 128  # open at once per run (each holds a socket of gated's)
MAX_HOSTS: Final = 256  # distinct hosts counted per run; the rest are counted as '(other)'
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a target may be reached, why, and the address to connect to."""

    verdict: Verdict
    reason: str
    address: IPAddress | None = None


@dataclass(slots=True)
class RunEgress:
    """The egress listener of one run."""

    folder: str
    run_id: int
    run_dir: Path  # the run's private directory; the credential proxy's socket goes there too
    socket_path: Path
    rules: tuple[Rule, ...]
    server: asyncio.AbstractServer | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)  # counted so far (capped at MAX_HOSTS)


class EgressProxy:
    """One event loop thread serving every `network=proxy` run's listener."""

    def __init__(
        self, counter: EgressCounter, dirs: RunDirs, resolve: Mapping[str, str] | None = None
    ) -> None:
        self.counter = counter
        self.dirs = dirs
        # Test-only names (gated --egress-resolve): trusted, so they may be loopback.
        self.resolve = dict(resolve or {})
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._open: list[RunEgress] = []  # touched on the loop's thread only

    # -- life cycle (gated's threads) ------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="egress-proxy", daemon=True
                )
                self._thread.start()
            return self._loop

    def _call(self, coro: Coroutine[Any, Any, T]) -> T | None:
        with self._lock:
            loop = self._loop
        if loop is None:  # stopped: nothing is listening any more
            coro.close()
            return None
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

    def stop(self) -> None:
        """Close every run's listener and connection (nothing gets out after this)."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._close_all(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- runs ------------------------------------------------------------------------------

    def open_run(self, run_id: int, folder: str, allow_hosts: Iterable[str]) -> RunEgress:
        """Make the run's directory and listen on its `egress.sock` for a run of `folder`;
        OSError when that cannot be done."""
        run_dir = self.dirs.create(run_id)
        run = RunEgress(folder, run_id, run_dir, run_dir / SOCKET_NAME, parse_rules(allow_hosts))
        self._ensure_loop()
        try:
            self._call(self._listen(run))
        except BaseException:
            RunDirs.remove(run_dir)
            raise
        log.info(
            "egress proxy open folder=%s run=%d allow_hosts=%s",
            folder,
            run_id,
            ",".join(r.text for r in run.rules) or "-",
        )
        return run

    def close_run(self, run: RunEgress) -> None:
        """Close the run's listener and connections, remove its directory."""
        try:
            self._call(self._close(run))
        finally:
            RunDirs.remove(run.run_dir)

    async def _listen(self, run: RunEgress) -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            if len(run.tasks) >= MAX_CONNECTIONS:
                self._record(run, "(too-many)", 0, Decision("denied", "too-many-connections"))
                writer.close()
                return
            run.tasks.add(task)
            try:
                await self._serve(run, reader, writer)
            finally:
                run.tasks.discard(task)
                writer.close()

        run.server = await asyncio.start_unix_server(serve, path=str(run.socket_path))
        os.chmod(run.socket_path, 0o600)
        self._open.append(run)

    async def _close(self, run: RunEgress) -> None:
        if run.server is not None:
            run.server.close()
        for task in list(run.tasks):
            task.cancel()
        if run.server is not None:
            await run.server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            run.socket_path.unlink()
        if run in self._open:
            self._open.remove(run)

    async def _close_all(self) -> None:
        for run in list(self._open):
            await self._close(run)

    # -- one connection --------------------------------------------------------------------

    async def _serve(
        self, run: RunEgress, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        try:
            head = await asyncio.wait_for(read_head(conn, reader), HEAD_TIMEOUT_S)
        except ConnectionError:
            return  # gone before asking anything: not an attempt
        except (TimeoutError, h11.RemoteProtocolError) as exc:
            status = 431 if isinstance(exc, h11.RemoteProtocolError) else 408
            self._record(run, "(invalid)", 0, Decision("denied", "bad-request"))
            await reply(writer, conn, status, b"bad proxy request\n")
            return
        connect = head.method == b"CONNECT"
        try:
            target, path = _target(head)
        except BadTarget as exc:
            self._record(run, "(invalid)", 0, Decision("denied", "bad-request"))
            await reply(writer, conn, 400, f"egress: {exc}\n".encode())
            return
        decision = await self._decide(run, target)
        self._record(run, target.host, target.port, decision)
        if decision.address is None:
            text = f"egress denied: {target.host}:{target.port} ({decision.reason})\n"
            await reply(writer, conn, 403, text.encode())
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(str(decision.address), target.port), CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError) as exc:
            log.warning(
                "egress upstream unreachable folder=%s host=%s port=%d error=%s",
                run.folder,
                target.host,
                target.port,
                type(exc).__name__,
            )
            await reply(writer, conn, 502, b"egress: upstream unreachable\n")
            return
        try:
            if connect:
                await tunnel(conn, reader, writer, up_reader, up_writer)
            else:
                await forward(conn, head, target, path, reader, writer, up_reader, up_writer)
        except (OSError, TimeoutError, h11.ProtocolError) as exc:
            log.debug("egress connection ended folder=%s: %s", run.folder, type(exc).__name__)
        finally:
            up_writer.close()

    async def _decide(self, run: RunEgress, target: Target) -> Decision:
        rule = matching_rule(run.rules, target)
        if rule is None:
            return Decision("denied", "not-in-allow_hosts")
        allowed = f"allow_hosts:{rule.text}"
        if target.ip is not None:
            if not is_public(target.ip):
                return Decision("denied", "address-not-public")
            return Decision("allowed", allowed, target.ip)
        mapped = self.resolve.get(target.host)
        if mapped is not None:
            return Decision("allowed", allowed + "+test-resolve", ipaddress.ip_address(mapped))
        # Only a name already allowed is looked up: a denied one sends no DNS query.
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM),
                RESOLVE_TIMEOUT_S,
            )
        except (OSError, TimeoutError):
            return Decision("denied", "does-not-resolve")
        # The address checked is the one connected to: a second lookup cannot rebind it.
        public = public_addresses(str(info[4][0]) for info in infos)
        if not public:
            return Decision("denied", "resolves-to-non-public-address")
        return Decision("allowed", allowed, public[0])

    def _record(self, run: RunEgress, host: str, port: int, decision: Decision) -> None:
        level = logging.INFO if decision.verdict == "allowed" else logging.WARNING
        log.log(
            level,
            "egress folder=%s host=%s port=%d verdict=%s reason=%s",
            run.folder,
            store.log_safe(host, 100),
            port,
            decision.verdict,
            store.log_safe(decision.reason, 300),
        )
        if host not in run.hosts and len(run.hosts) >= MAX_HOSTS:
            host = "(other)"
        run.hosts.add(host)
        self.counter.add(run.folder, host, decision.verdict)


def _target(head: h11.Request) -> tuple[Target, bytes]:
    """Where a request goes and, for a forwarded one, its origin-form path."""
    raw = head.target.decode("ascii", "replace")
    if head.method == b"CONNECT":
        return parse_authority(raw), b""
    url = urlsplit(raw)
    if url.scheme != "http" or not url.netloc:
        raise BadTarget(f"only CONNECT and absolute http:// URLs are proxied, got {raw[:80]!r}")
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    return parse_url_host(url.netloc, 80), path.encode("ascii", "replace")
