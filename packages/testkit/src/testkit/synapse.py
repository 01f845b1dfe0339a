"""`Synapse`: a real Matrix homeserver (Synapse on SQLite) as a subprocess on 127.0.0.1, in its
own directory: config and signing key written there, users made through the shared-secret
registration admin API. Its logs go to files there; `log_tail()` is for failure messages."""

from __future__ import annotations

import base64
import ctypes
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Final, NamedTuple

import httpx

SERVER_NAME: Final = "switchboard.test"
START_TIMEOUT_S: Final = 90.0
STOP_TIMEOUT_S: Final = 15.0
START_ATTEMPTS: Final = 3  # a free port can be taken between choosing it and Synapse binding it
POLL_INTERVAL_S: Final = 0.05
LOG_TAIL_LINES: Final = 60
PR_SET_PDEATHSIG: Final = 1
MAX_UPLOAD_SIZE: Final = "50M"
# Loose enough that no test is ever throttled, and still a number (Synapse wants one).
UNLIMITED: Final = {"per_second": 10_000, "burst_count": 100_000}
RATE_LIMITED_ACTIONS: Final = (
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_admin_redaction",
    "rc_joins_per_room",
    "rc_3pid_validation",
    "rc_third_party_invite",
    "rc_media_create",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
    "rc_key_requests",
)
RATE_LIMITED_GROUPS: Final = {
    "rc_login": ("address", "account", "failed_attempts"),
    "rc_joins": ("local", "remote"),
    "rc_invites": ("per_room", "per_user", "per_issuer"),
    "rc_presence": ("per_user",),
}


class MatrixUser(NamedTuple):
    """A registered account: its full id and an access token for the client API."""

    user_id: str
    access_token: str


class SynapseError(Exception):
    """Synapse did not start, or answered an admin request with an error."""


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends it SIGTERM when the test process dies
    (even by SIGKILL), so no orphaned homeserver outlives a killed run. Linux only; the signal
    follows the thread that started it, so start Synapse from a thread that lives as long."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def signing_key_line() -> str:
    """A fresh ed25519 signing key in Synapse's file format: `ed25519 <version> <seed>`."""
    seed = base64.b64encode(os.urandom(32)).decode().rstrip("=")
    return f"ed25519 a_{secrets.token_hex(2)} {seed}\n"


def homeserver_config(
    base: Path, port: int, shared_secret: str, server_name: str = SERVER_NAME
) -> dict[str, Any]:
    """Synapse's config for a test homeserver in `base`: one plain-HTTP client listener on
    127.0.0.1:`port` (no federation listener), SQLite, no outbound key servers or stats."""
    config: dict[str, Any] = {
        "server_name": server_name,
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "pid_file": str(base / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(base / "homeserver.db")}},
        "log_config": str(base / "log_config.json"),
        "media_store_path": str(base / "media_store"),
        "max_upload_size": MAX_UPLOAD_SIZE,
        "signing_key_path": str(base / "signing.key"),
        "registration_shared_secret": shared_secret,
        "macaroon_secret_key": secrets.token_hex(32),
        "form_secret": secrets.token_hex(32),
        "enable_registration": False,
        "report_stats": False,
        "enable_metrics": False,
        "url_preview_enabled": False,
        "presence": {"enabled": False},
        # No network here: never ask matrix.org (or anyone) for keys.
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
    }
    for action in RATE_LIMITED_ACTIONS:
        config[action] = dict(UNLIMITED)
    for group, kinds in RATE_LIMITED_GROUPS.items():
        config[group] = {kind: dict(UNLIMITED) for kind in kinds}
    return config


def log_config(log_file: Path) -> dict[str, Any]:
    """Python logging config for Synapse: everything at INFO to one file, nothing to stderr."""
    return {
        "version": 1,
        "formatters": {
            "precise": {
                "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - "
                "%(request)s - %(message)s"
            }
        },
        "filters": {"context": {"()": "synapse.logging.context.LoggingContextFilter"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "precise",
                "filename": str(log_file),
                "filters": ["context"],
                "encoding": "utf8",
            }
        },
        "loggers": {"synapse.storage.SQL": {"level": "INFO"}},
        "root": {"level": "INFO", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }


def registration_mac(
    shared_secret: str, nonce: str, localpart: str, password: str, admin: bool
) -> str:
    """The HMAC-SHA1 the shared-secret registration API checks: nonce, user, password and
    admin/notadmin, NUL-separated, keyed with the shared secret."""
    mac = hmac.new(shared_secret.encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode()]))
    mac.update(b"\x00admin" if admin else b"\x00notadmin")
    return mac.hexdigest()


class Synapse:
    """A running homeserver. `Synapse.start(dir)` returns once the client API answers; a failed
    start leaves no process behind and raises `SynapseError` with the log's tail."""

    def __init__(self, base: Path, port: int, proc: subprocess.Popen[bytes], secret: str) -> None:
        self.base = base
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = proc
        self.shared_secret = secret
        self.server_name = SERVER_NAME
        self.startup_s = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.base / "homeserver.log"

    @property
    def console_file(self) -> Path:
        return self.base / "console.log"

    @classmethod
    def start(cls, base: Path, *, timeout: float = START_TIMEOUT_S) -> Synapse:
        """Write a fresh homeserver into `base` (created if missing), start it, wait for it."""
        base.mkdir(parents=True, exist_ok=True)
        (base / "media_store").mkdir(exist_ok=True)
        (base / "signing.key").write_text(signing_key_line())
        (base / "log_config.json").write_text(json.dumps(log_config(base / "homeserver.log")))
        secret = secrets.token_hex(32)
        began = time.monotonic()
        for attempt in range(1, START_ATTEMPTS + 1):
            port = free_port()
            config = homeserver_config(base, port, secret)
            (base / "homeserver.yaml").write_text(json.dumps(config, indent=2))  # JSON is YAML
            server = cls(base, port, cls._spawn(base), secret)
            try:
                server._wait_until_up(began + timeout)
            except SynapseError:
                server.stop()
                if attempt == START_ATTEMPTS or not server._lost_port_race():
                    raise
                continue
            server.startup_s = time.monotonic() - began
            return server
        raise AssertionError("unreachable")

    @staticmethod
    def _spawn(base: Path) -> subprocess.Popen[bytes]:
        with (base / "console.log").open("ab") as console:
            return subprocess.Popen(
                [sys.executable, "-m", "synapse.app.homeserver", "-c", "homeserver.yaml"],
                cwd=base,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )

    def _wait_until_up(self, deadline: float) -> None:
        versions = f"{self.url}/_matrix/client/versions"
        while True:
            assert self.proc is not None
            code = self.proc.poll()
            if code is not None:
                raise SynapseError(f"synapse exited with {code} while starting\n{self.log_tail()}")
            try:
                if httpx.get(versions, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SynapseError(f"synapse did not answer {versions} in time\n{self.log_tail()}")
            time.sleep(POLL_INTERVAL_S)

    def _lost_port_race(self) -> bool:
        return "Address already in use" in self.log_tail()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of Synapse's console output and of its log, for a failure message."""
        parts = []
        for path in (self.console_file, self.log_file):
            text = path.read_text(errors="replace") if path.exists() else ""
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"--- {path} (last {lines} lines) ---\n{tail}")
        return "\n".join(parts)

    def register(self, localpart: str, password: str, admin: bool = False) -> MatrixUser:
        """Create an account with the shared-secret admin API and return it, logged in."""
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        with httpx.Client(timeout=30) as http:
            nonce_reply = http.get(endpoint)
            if nonce_reply.status_code != 200:
                raise SynapseError(f"register nonce: {nonce_reply.status_code} {nonce_reply.text}")
            nonce = str(nonce_reply.json()["nonce"])
            body = {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": registration_mac(self.shared_secret, nonce, localpart, password, admin),
            }
            reply = http.post(endpoint, json=body)
        if reply.status_code != 200:
            raise SynapseError(
                f"register localpart={localpart!r}: {reply.status_code} {reply.text}"
            )
        answer = reply.json()
        return MatrixUser(str(answer["user_id"]), str(answer["access_token"]))

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if Synapse has not exited in time. Idempotent."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> Synapse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
