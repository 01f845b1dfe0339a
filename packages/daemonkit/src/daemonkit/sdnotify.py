"""systemd's notify protocol: READY=1, WATCHDOG=1, STOPPING=1 on $NOTIFY_SOCKET."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def sd_notify(state: str) -> bool:
    """Send a systemd notification (READY=1, WATCHDOG=1, STOPPING=1); False outside systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(addr)
            sock.sendall(state.encode())
        return True
    except OSError as exc:
        log.warning("sd_notify failed: %s", exc)
        return False
