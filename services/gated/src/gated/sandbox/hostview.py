"""Which host paths a sandbox shows read-only at the same place: the system (`/usr`, the shared
libraries, a few `/etc` files) and the Python environment gated itself runs from."""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

# Top-level system directories: a symlink (merged /usr) is recreated as the same symlink.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# /etc is not shown whole (it holds host secrets): only what programs need to start and run.
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/ssl/certs",
    "/etc/ca-certificates.conf",
    "/etc/mime.types",
)
# Name resolution: shown to network=full runs only (a network-less sandbox resolves nothing).
NET_ETC_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/host.conf", "/etc/gai.conf")


def is_within(path: str, parent: str) -> bool:
    """True when `path` is `parent` or lies below it (both absolute, normalised)."""
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def reduce_paths(paths: list[str]) -> tuple[str, ...]:
    """Sorted, without duplicates and without paths already inside another one."""
    out: list[str] = []
    for p in sorted(set(paths)):
        if not any(is_within(p, kept) for kept in out):
            out.append(p)
    return tuple(out)


@lru_cache(maxsize=1)
def python_environment() -> tuple[str, ...]:
    """The directories of this interpreter, its venv and every `sys.path` entry it imports
    from (editable workspace sources included), so `python3` and the console scripts work."""
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    candidates.append(str(Path(os.path.realpath(sys.executable)).parent.parent))
    prefixes = [os.path.realpath(p) for p in candidates]
    entries = list(sys.path)
    # sys.path[0] is the script's directory or, for `python -m`, the current directory:
    # not part of the environment unless it already lies inside a prefix.
    if entries and not any(is_within(os.path.realpath(entries[0] or "."), p) for p in prefixes):
        entries = entries[1:]
    paths = list(prefixes)
    for entry in entries:
        if not entry:
            continue
        real = os.path.realpath(entry)
        if os.path.isdir(real):
            paths.append(real)
    system = [d for d in SYSTEM_DIRS if os.path.isdir(d) and not os.path.islink(d)]
    return tuple(p for p in reduce_paths(paths) if not any(is_within(p, s) for s in system))


def safe_python_paths(forbidden: list[str]) -> tuple[str, ...]:
    """The Python environment minus any path that would show a forbidden one (the database's
    directory, the groups directory): such a path is never bound, whatever it breaks."""
    return tuple(
        p for p in python_environment() if not any(is_within(f, p) for f in forbidden if f)
    )


def sandbox_path_var() -> str:
    """PATH inside the sandbox: the venv's scripts first, then the system's."""
    bindir = str(Path(sys.executable).parent)
    return os.pathsep.join([bindir, "/usr/local/bin", "/usr/bin", "/bin"])
