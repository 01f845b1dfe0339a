"""The daemon kit's exceptions."""

from __future__ import annotations


class Fatal(Exception):
    """A daemon cannot go on (a listener that cannot bind or died, a crashed component): the
    Runner logs the message as its last line and exits 1, so systemd or `switchboard up`
    restarts it."""
