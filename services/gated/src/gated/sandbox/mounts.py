"""The authoritative check of declared mounts, made when a run starts: each host path resolved
(symlinks, `..`), under a `--mount-root`, and never the database, its directory, the groups
directory or another group's folder."""

from __future__ import annotations

import os
import posixpath

from gated.sandbox.errors import MountRefused
from gated.sandbox.hostview import is_within
from gated.sandbox.spec import HostPaths, Mount

# Inside paths a mount may not cover: the sandbox's own /proc and /dev, and the root itself.
RESERVED_INSIDE = ("/proc", "/dev")


def check_inside(inside: str) -> str:
    """The normalised inside path, or MountRefused."""
    norm = posixpath.normpath(inside)
    if not inside.startswith("/") or ".." in inside.split("/") or norm == "/":
        raise MountRefused("mounts", f"inside path {inside!r} must be absolute, without '..'")
    if any(is_within(norm, r) for r in RESERVED_INSIDE):
        raise MountRefused("mounts", f"inside path {inside!r} would cover the sandbox's {norm}")
    return norm


def check_mount(mount: Mount, host: HostPaths) -> Mount:
    """The mount with its host path resolved, or MountRefused naming the reason."""
    try:
        real = os.path.realpath(mount.host_path, strict=True)
    except OSError as exc:
        raise MountRefused("mounts", f"{mount.host_path!r} cannot be resolved: {exc}") from None
    roots = [os.path.realpath(r) for r in host.mount_roots]
    if not any(is_within(real, r) for r in roots):
        allowed = ", ".join(roots) or "none configured (gated --mount-root)"
        raise MountRefused("mounts", f"{real!r} is not under a mount root ({allowed})")
    db = os.path.realpath(host.db_path)
    db_dir = os.path.dirname(db)
    groups = os.path.realpath(host.groups_dir)
    folder = os.path.realpath(host.folder)
    if is_within(db, real) or real == db_dir:
        raise MountRefused("mounts", f"{real!r} would show the database {db}")
    if is_within(groups, real):
        raise MountRefused("mounts", f"{real!r} would show the groups directory {groups}")
    if is_within(real, groups) and not is_within(real, folder):
        raise MountRefused("mounts", f"{real!r} is another group's folder")
    return Mount(real, check_inside(mount.inside_path), mount.writable)


def check_mounts(mounts: tuple[Mount, ...], host: HostPaths) -> tuple[Mount, ...]:
    return tuple(check_mount(m, host) for m in mounts)
