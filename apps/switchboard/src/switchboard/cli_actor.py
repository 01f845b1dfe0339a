"""Who runs a `switchboard` command, as the audit log records it: the process's OS account
(its effective uid, not $USER, which anyone may set) and, as `remote`, the host, the terminal
and the SSH client address when the shell came over SSH."""

from __future__ import annotations

import os
import pwd
import socket
from collections.abc import Mapping

from store.audit import Actor

STD_FDS = (0, 1, 2)


def os_user(uid: int) -> str:
    """The account name of `uid`, or `uid:<n>` when it has none (a container's bare uid)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def terminal() -> str:
    """The controlling terminal's device, or 'none' (a script, a pipe, cron)."""
    for fd in STD_FDS:
        try:
            if os.isatty(fd):
                return os.ttyname(fd)
        except OSError:
            continue
    return "none"


def remote_of(host: str, tty: str, environ: Mapping[str, str]) -> str:
    """`host=… tty=…`, plus `ssh=<client address>` from SSH_CONNECTION when present (what
    the shell was told; informational, the uid is the identity)."""
    parts = [f"host={host}", f"tty={tty}"]
    client = environ.get("SSH_CONNECTION", "").split()
    if client:
        parts.append(f"ssh={client[0]}")
    return " ".join(parts)


def cli_actor() -> Actor:
    """The actor of this command."""
    return Actor(
        os_user(os.geteuid()), "cli", remote_of(socket.gethostname(), terminal(), os.environ)
    )
