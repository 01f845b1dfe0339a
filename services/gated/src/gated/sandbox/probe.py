"""Does bubblewrap work on this host? One real sandbox started with the same namespaces a run
gets; the answer is kept for the life of the process."""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from gated.sandbox.argv import NAMESPACE_ARGS, SANDBOX_TMP, system_layout

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class BwrapProbe:
    works: bool
    path: str  # the executable found ('' when none)
    version: str
    reason: str  # why it does not work ('' when it does)


@lru_cache(maxsize=8)
def probe_bwrap(bwrap: str) -> BwrapProbe:
    """Start `true` in a sandbox like a run's; works only when it exits 0."""
    path = shutil.which(bwrap) or ""
    if not path:
        return BwrapProbe(False, "", "", f"{bwrap!r} not found (apt-get install bubblewrap)")
    layout = system_layout()
    argv = [path, *NAMESPACE_ARGS]
    for d in layout.dirs:
        argv += ["--ro-bind", d, d]
    for link, target in layout.links:
        argv += ["--symlink", target, link]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", SANDBOX_TMP, "--", "true"]
    try:
        done = subprocess.run(argv, env={}, capture_output=True, timeout=PROBE_TIMEOUT_S)
        ver = subprocess.run([path, "--version"], env={}, capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return BwrapProbe(False, path, "", f"{path} cannot run: {exc}")
    version = ver.stdout.decode(errors="replace").strip()
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        return BwrapProbe(False, path, version, f"{path} cannot make a sandbox here: {err}")
    return BwrapProbe(True, path, version, "")
