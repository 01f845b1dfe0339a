"""A throw-away PostgreSQL cluster for tests (Debian's `postgresql`): `initdb` and `pg_ctl` in a
temp directory, listening on 127.0.0.1 on a free port (and a unix socket in that directory
only), a fresh database per test copied from a template.

PostgreSQL refuses to run as root, and tests run as root in CI: then every server command runs
as the `postgres` system user (created by Debian's package) through `runuser`, and the temp
directory is handed to that user. As any other user the commands run as that user.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Final

import psycopg
from psycopg.rows import TupleRow

BIN_GLOB: Final = "/usr/lib/postgresql/*/bin"  # Debian's layout, newest version wins
BIN_ENV: Final = "SWITCHBOARD_PG_BIN"  # another directory holding initdb and pg_ctl
SERVER_USER: Final = "postgres"  # the unprivileged user root runs the server as
SUPERUSER: Final = "sb"  # the cluster's superuser, the one tests connect as
START_TIMEOUT_S: Final = 60
# A test cluster: nothing needs to survive a crash, so no fsync (tests and the bench measure
# the store, not the disk); C collation and UTF-8, as store.pg_schema requires.
SETTINGS: Final = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "120",
    "log_min_messages": "warning",
    "log_connections": "off",
}
MISSING: Final = (
    "PostgreSQL is not installed (Debian package postgresql: initdb, pg_ctl; or set "
    "SWITCHBOARD_PG_BIN to a directory holding them)"
)


def bin_dir() -> Path | None:
    """$SWITCHBOARD_PG_BIN, else the newest installed server's bin directory; None when
    neither holds initdb and pg_ctl."""
    if os.environ.get(BIN_ENV):
        chosen = Path(os.environ[BIN_ENV])
        return chosen if (chosen / "initdb").exists() and (chosen / "pg_ctl").exists() else None
    found = [Path(p) for p in glob.glob(BIN_GLOB) if (Path(p) / "pg_ctl").exists()]
    return max(found, key=lambda p: int(p.parent.name)) if found else None


def missing_reason() -> str | None:
    """Why no cluster can start here (None: it can)."""
    if bin_dir() is None:
        return MISSING
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root needs the {SERVER_USER!r} system user to run PostgreSQL as"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    """One postgres server with its data directory under a fresh temp directory."""

    def __init__(self) -> None:
        reason = missing_reason()
        if reason is not None:
            raise RuntimeError(reason)
        found = bin_dir()
        assert found is not None
        self.bin = found
        self.root = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
        self.data = self.root / "data"
        self.log_file = self.root / "server.log"
        self.port = _free_port()
        self.password = secrets.token_hex(12)
        self._as_root = os.geteuid() == 0
        self._names = itertools.count(1)
        self.startup_s = 0.0

    # -- running server commands -----------------------------------------------------------

    def _run(self, *argv: str) -> None:
        """A server program (initdb, pg_ctl) as the unprivileged user."""
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self._as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(
                f"{argv[0]} exited {result.returncode}: {result.stderr[-2000:]}\n{self.log_tail()}"
            )

    def start(self) -> PostgresCluster:
        """initdb, configure, `pg_ctl start -w`; returns self once it accepts connections."""
        began = time.monotonic()
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self._as_root:
            user = pwd.getpwnam(SERVER_USER)
            for path in (self.root, pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run(
            "initdb",
            "-D", str(self.data),
            "-U", SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        lines = [f"{k} = {v}" for k, v in SETTINGS.items()]
        lines += [f"port = {self.port}", f"unix_socket_directories = '{self.root}'"]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.log_file),
            "-w", "-t", str(START_TIMEOUT_S),
        )  # fmt: skip
        self.startup_s = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if (self.data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w")
            except RuntimeError:
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    # -- databases ------------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """The URL of database `dbname` over TCP, with the superuser's password."""
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection[TupleRow]:
        """An autocommit connection to the `postgres` database (CREATE/DROP DATABASE)."""
        return psycopg.connect(self.url(), autocommit=True)

    def create_database(self, template: str = "template1", name: str | None = None) -> str:
        """A new database copied from `template`; its URL."""
        name = name or f"t{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any session still on it."""
        with self.admin() as conn, contextlib.suppress(psycopg.Error):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
