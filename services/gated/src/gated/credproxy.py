"""gated's credential proxy: each agent run granted a secret gets its own listeners (a unix
socket in a private per-run directory, and a loopback TCP port behind an unguessable path
token); requests to `/<secret>/...` are forwarded to that secret's upstream over verified TLS
with the secret's header added, the response streamed back. The value never reaches the agent.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import secrets
import sqlite3
import ssl
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import h11
import httpx
import store

from gated import secret_store
from gated.http_reply import short_reply
from gated.rundir import RunDirs

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES: Final = 32 * 1024 * 1024
MAX_HEADER_BYTES: Final = 64 * 1024
READ_CHUNK: Final = 65536
SOCKET_NAME: Final = "proxy.sock"
# Set for Claude Code, which wants some API key before it sends anything: the proxy replaces it.
ANTHROPIC_PLACEHOLDER_KEY: Final = "switchboard-credential-proxy"
# Never forwarded upstream: hop-by-hop headers, the host (the upstream's), and every header that
# could carry a credential the agent invented (the proxy sets the real one).
DROP_REQUEST: Final = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "authorization",
        "x-api-key",
    }
)
DROP_RESPONSE: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
UPSTREAM_TIMEOUT: Final = httpx.Timeout(connect=10.0, read=600.0, write=60.0, pool=10.0)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Route:
    """One granted secret with an upstream, as the proxy uses it."""

    name: str
    upstream: httpx.URL
    header: str
    header_value: str = field(repr=False)  # the formatted credential: never logged
    env: str = ""  # the variable that carries the route's base URL
    anthropic: bool = False


@dataclass(frozen=True, slots=True)
class Grants:
    """A run's resolved grants: proxy routes, env-exposed values, and the env to add."""

    routes: dict[str, Route]
    env_values: dict[str, str] = field(repr=False)  # `--expose env`: NAME -> raw value


def env_name(name: str) -> str:
    """`github-token` -> `GITHUB_TOKEN`."""
    return name.upper().replace("-", "_")


def proxy_env_name(secret: secret_store.Secret) -> str:
    return (
        "ANTHROPIC_BASE_URL"
        if secret.is_anthropic
        else f"SWITCHBOARD_PROXY_{env_name(secret.name)}"
    )


def resolve_grants(
    conn: sqlite3.Connection, key_file: Path, folder: str, names: Sequence[str]
) -> Grants:
    """Open the secrets granted to a folder. An unknown name, or a chat adapter's token, is
    logged and skipped; a key file that cannot be used raises SecretKeyError (the run fails
    with that message)."""
    routes: dict[str, Route] = {}
    env_values: dict[str, str] = {}
    found = [s for n in names if (s := _known(conn, folder, n)) is not None]
    if not found:
        return Grants(routes, env_values)
    key = secret_store.load_key(key_file)
    for s in found:
        value = secret_store.reveal(conn, key, s.name)
        if s.expose == "env":
            log.warning(
                "secret exposed in the agent's environment folder=%s secret=%s env=%s",
                folder,
                s.name,
                env_name(s.name),
            )
            env_values[env_name(s.name)] = value
        else:
            assert s.upstream is not None
            assert s.header is not None
            routes[s.name] = Route(
                s.name,
                httpx.URL(s.upstream),
                s.header,
                s.format.replace("{}", value),
                proxy_env_name(s),
                s.is_anthropic,
            )
    return Grants(routes, env_values)


def _known(conn: sqlite3.Connection, folder: str, name: str) -> secret_store.Secret | None:
    secret = secret_store.get_secret(conn, name)
    if secret is None:
        log.warning(
            "granted secret does not exist folder=%s secret=%s", folder, store.log_safe(name)
        )
    elif secret.expose == "adapter":
        log.warning(
            "granted secret is a chat adapter's token, never given to an agent folder=%s secret=%s",
            folder,
            name,
        )
        return None
    return secret


def upstream_ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's trust store, plus `ca_file` (gated --proxy-ca-file) when given."""
    ctx = ssl.create_default_context()
    if ca_file:
        ctx.load_verify_locations(cafile=ca_file)
    return ctx


@dataclass(slots=True)
class RunProxy:
    """The listeners of one run; `env` is what the agent gets."""

    folder: str
    run_dir: Path
    socket_path: Path
    port: int
    token: str = field(repr=False)
    env: dict[str, str] = field(repr=False)  # an unconfined agent's variables (TCP base URLs)
    bases: dict[str, str] = field(default_factory=dict)  # variable -> route name (its base URL)
    plain: dict[str, str] = field(default_factory=dict)  # set as they are (the placeholder key)
    exposed: dict[str, str] = field(default_factory=dict, repr=False)  # `--expose env` values
    servers: list[asyncio.AbstractServer] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    owns_dir: bool = True  # close_run removes run_dir


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class CredentialProxy:
    """One event loop thread serving every run's listeners; `open_run` / `close_run` per run."""

    def __init__(
        self,
        key_file: Path,
        runtime_dir: Path | None,
        ca_file: str | None,
        *,
        dirs: RunDirs | None = None,
    ) -> None:
        self.key_file = key_file
        # The runs' directories: shared with the egress proxy when given (the caller stops
        # them), else this proxy's own under runtime_dir.
        self.dirs = dirs or RunDirs(runtime_dir)
        self._own_dirs = dirs is None
        self._ssl = upstream_ssl_context(ca_file)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- life cycle (gated's threads) ------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=loop.run_forever, name="credential-proxy", daemon=True
                )
                self._thread.start()
                self._loop = loop
                # trust_env=False: no HTTP(S)_PROXY or SSL_CERT_FILE from gated's environment
                # decides where a credential goes or which CA vouches for its upstream.
                self._client = self._call(self._make_client())
            return self._loop

    async def _make_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            verify=self._ssl, timeout=UPSTREAM_TIMEOUT, trust_env=False, follow_redirects=False
        )

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def stop(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            if self._client is not None:
                asyncio.run_coroutine_threadsafe(self._client.aclose(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=5)
        if self._own_dirs:
            self.dirs.stop()

    # -- runs ------------------------------------------------------------------------------

    def open_run(
        self,
        conn: sqlite3.Connection,
        run_id: int,
        folder: str,
        names: Sequence[str],
        *,
        tcp: bool = True,
        run_dir: Path | None = None,
    ) -> RunProxy | None:
        """Listeners and env for a run granted `names`; None when it needs none. Raises
        SecretKeyError when the secrets cannot be opened. `tcp=False` (a sandboxed run, which
        cannot reach this host's loopback): the unix socket only. `run_dir`: the run's
        directory, made and removed by the caller (else this makes and removes one)."""
        grants = resolve_grants(conn, self.key_file, folder, names)
        if not grants.routes and not grants.env_values:
            return None
        owns_dir = run_dir is None
        run_dir = self.dirs.create(run_id) if run_dir is None else run_dir
        sock = run_dir / SOCKET_NAME
        token = secrets.token_urlsafe(24)
        proxy = RunProxy(folder, run_dir, sock, 0, token, dict(grants.env_values))
        proxy.owns_dir = owns_dir
        if grants.routes:
            self._ensure_loop()
            self._call(self._listen(proxy, grants.routes, tcp=tcp))
            base = f"http://127.0.0.1:{proxy.port}/{token}"
            for route in grants.routes.values():
                proxy.bases[route.env] = route.name
                if tcp:
                    proxy.env[route.env] = f"{base}/{route.name}"
                if route.anthropic:
                    proxy.plain["ANTHROPIC_API_KEY"] = ANTHROPIC_PLACEHOLDER_KEY
            proxy.env.update(proxy.plain)
            proxy.env["SWITCHBOARD_PROXY_SOCKET"] = str(sock)
        proxy.exposed.update(grants.env_values)
        log.info(
            "credential proxy open folder=%s run=%d secrets=%s port=%d",
            folder,
            run_id,
            ",".join(sorted(grants.routes)) or "-",
            proxy.port,
        )
        return proxy

    def close_run(self, proxy: RunProxy) -> None:
        if proxy.servers and self._loop is not None:
            self._call(self._close(proxy))
        if proxy.owns_dir:
            RunDirs.remove(proxy.run_dir)

    async def _listen(self, proxy: RunProxy, routes: dict[str, Route], *, tcp: bool) -> None:
        def handler(prefix: str) -> Handler:
            async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                task = asyncio.current_task()
                assert task is not None
                proxy.tasks.add(task)
                try:
                    await self._serve(reader, writer, proxy.folder, prefix, routes)
                finally:
                    proxy.tasks.discard(task)

            return serve

        unix = await asyncio.start_unix_server(handler(""), path=str(proxy.socket_path))
        os.chmod(proxy.socket_path, 0o600)
        proxy.servers = [unix]
        if tcp:
            server = await asyncio.start_server(
                handler(f"/{proxy.token}"), host="127.0.0.1", port=0
            )
            proxy.port = server.sockets[0].getsockname()[1]
            proxy.servers.append(server)

    async def _close(self, proxy: RunProxy) -> None:
        for server in proxy.servers:
            server.close()
        for task in list(proxy.tasks):
            task.cancel()
        for server in proxy.servers:
            await server.wait_closed()

    # -- one connection --------------------------------------------------------------------

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        folder: str,
        prefix: str,
        routes: dict[str, Route],
    ) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        try:
            request = await _read_request(conn, reader, writer)
            if isinstance(request, int):
                await short_reply(writer, conn, request, b"bad request")
                return
            head, body = request
            found = match_route(head.target, prefix, routes)
            if found is None:
                await short_reply(writer, conn, 404, b"not found")
                return
            route, raw_path = found
            status = await self._forward(writer, conn, head, body, route, raw_path)
            log.info(
                "credential proxy folder=%s secret=%s method=%s path=%s status=%d",
                folder,
                route.name,
                head.method.decode(),
                store.log_safe(raw_path.split(b"?")[0].decode("latin-1"))[:200],
                status,
            )
        except (ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError):
            log.debug("credential proxy: client went away folder=%s", folder)
        finally:
            writer.close()

    async def _forward(
        self,
        writer: asyncio.StreamWriter,
        conn: h11.Connection,
        head: h11.Request,
        body: bytes,
        route: Route,
        raw_path: bytes,
    ) -> int:
        assert self._client is not None
        skip = DROP_REQUEST | {route.header.lower()}
        headers = [(k, v) for k, v in head.headers if k.decode().lower() not in skip]
        headers.append((route.header.encode(), route.header_value.encode()))
        base_path = route.upstream.raw_path.split(b"?")[0].rstrip(b"/")
        url = route.upstream.copy_with(raw_path=base_path + raw_path)
        upstream_request = self._client.build_request(
            head.method.decode(), url, headers=headers, content=body
        )
        try:
            response = await self._client.send(upstream_request, stream=True)
        except httpx.HTTPError as exc:
            log.warning(
                "credential proxy: upstream failed secret=%s: %s", route.name, type(exc).__name__
            )
            await short_reply(writer, conn, 502, b'{"error": "upstream unreachable"}')
            return 502
        try:
            out = [
                (k, v) for k, v in response.headers.raw if k.decode().lower() not in DROP_RESPONSE
            ]
            out.append((b"connection", b"close"))
            writer.write(
                conn.send(h11.Response(status_code=response.status_code, headers=out)) or b""
            )
            async for chunk in response.aiter_raw():
                writer.write(conn.send(h11.Data(data=chunk)) or b"")
                await writer.drain()
            writer.write(conn.send(h11.EndOfMessage()) or b"")
            await writer.drain()
        finally:
            await response.aclose()
        return response.status_code


def match_route(target: bytes, prefix: str, routes: dict[str, Route]) -> tuple[Route, bytes] | None:
    """(route, the path and query to send upstream) of a request target `<prefix>/<name>/...`;
    None for anything else (a wrong token, an unknown name). Pure."""
    want = prefix.encode()
    if not hmac.compare_digest(target[: len(want)], want):
        return None
    rest = target[len(want) :]
    if not rest.startswith(b"/"):
        return None
    name, sep, tail = rest[1:].partition(b"/")
    name, qsep, query = name.partition(b"?")
    route = routes.get(name.decode("latin-1"))
    if route is None:
        return None
    path = b"/" + tail if sep else b"/"
    if qsep:  # `/<name>?q`: the query belongs to the root
        path = b"/?" + query
    return route, path


async def _read_request(
    conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[h11.Request, bytes] | int:
    """The request head and its whole body, or the status to refuse it with."""
    head: h11.Request | None = None
    body = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            return 400
        if event is h11.NEED_DATA:
            data = await reader.read(READ_CHUNK)
            conn.receive_data(data)
            if not data and head is None:
                raise ConnectionError("closed before a request")
            continue
        if isinstance(event, h11.Request):
            head = event
            if conn.they_are_waiting_for_100_continue:
                writer.write(
                    conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b""
                )
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_REQUEST_BYTES:
                return 413
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            return head, bytes(body)
        elif isinstance(event, h11.ConnectionClosed):
            raise ConnectionError("closed mid-request")
