"""The sandbox bench's `podman run` variant: the same echo agent in a container that sees what
gated's bubblewrap sandbox shows (the same read-only binds, the group folder read-write, no
network, the same memory and pids limits), started fresh for every sample as a `docker run`
style sandbox would be. Only measured where podman can run a container here."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

# This machine's cgroups are hybrid (v1 with a v2 mount): crun refuses them, runc works, and the
# container runtime may not raise its own rlimits, so they are given explicitly.
PODMAN_FLAGS = (
    "--runtime",
    "runc",
)
RUN_FLAGS = (
    "--rm",
    "-i",
    "--network",
    "none",
    "--read-only",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=4096:4096",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
)


def binds_of(bwrap_argv: list[str]) -> tuple[list[tuple[str, str, bool]], list[tuple[str, str]]]:
    """The (source, destination, writable) binds and the (path, target) symlinks of a bwrap
    command line, up to its `--` (the agent's command)."""
    binds: list[tuple[str, str, bool]] = []
    links: list[tuple[str, str]] = []
    end = bwrap_argv.index("--")
    i = 1
    while i < end:
        arg = bwrap_argv[i]
        if arg in ("--ro-bind", "--bind"):
            binds.append((bwrap_argv[i + 1], bwrap_argv[i + 2], arg == "--bind"))
            i += 3
        elif arg == "--symlink":
            links.append((bwrap_argv[i + 2], bwrap_argv[i + 1]))
            i += 3
        elif arg in ("--setenv", "--size", "--perms", "--chdir", "--hostname", "--cap-drop"):
            i += 3 if arg == "--setenv" else 2
        elif arg in ("--tmpfs", "--proc", "--dev", "--remount-ro"):
            i += 2
        else:
            i += 1
    return binds, links


def podman_argv(
    podman: str, rootfs: Path, bwrap_argv: list[str], memory_mb: int, pids: int
) -> list[str]:
    """`podman run` of the agent of `bwrap_argv` with the same view, in `rootfs` (made here:
    the mount points and symlinks, nothing else)."""
    binds, links = binds_of(bwrap_argv)
    for path, target in links:
        link = rootfs / path.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(target)
    argv = [podman, *PODMAN_FLAGS, "run", *RUN_FLAGS]
    argv += ["--memory", f"{memory_mb}m", "--pids-limit", str(pids), "--tmpfs", "/tmp"]
    for src, dst, writable in binds:
        point = rootfs / dst.lstrip("/")
        if os.path.isdir(src):
            point.mkdir(parents=True, exist_ok=True)
        else:
            point.parent.mkdir(parents=True, exist_ok=True)
            point.touch(exist_ok=True)
        argv += ["-v", f"{src}:{dst}:{'rw' if writable else 'ro'}"]
    env_args = bwrap_argv[: bwrap_argv.index("--")]
    for i, arg in enumerate(env_args):
        if arg == "--setenv":
            argv += ["-e", f"{env_args[i + 1]}={env_args[i + 2]}"]
        elif arg == "--chdir":
            argv += ["-w", env_args[i + 1]]
    command = bwrap_argv[bwrap_argv.index("--") + 1 :]
    return [*argv, "--rootfs", str(rootfs), *command]


def podman_usable(argv: list[str], payload: bytes) -> str | None:
    """None when the container answers; else why not (one line)."""
    try:
        proc = subprocess.run(argv, input=payload + b"\n", capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"podman cannot run here: {exc}"
    if proc.returncode != 0 or b'"message"' not in proc.stdout:
        return "podman cannot run here: " + proc.stderr.decode(errors="replace").strip()[-200:]
    return None


def first_line_ms(proc: subprocess.Popen[bytes], payload: bytes, started: float) -> float:
    """Hand a just-started agent its payload; ms from `started` to its first line (which must
    be a reply), after which its output is drained and it is waited for."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(payload + b"\n")
    proc.stdin.close()
    line = proc.stdout.readline()
    took = (time.perf_counter() - started) * 1000
    proc.stdout.read()
    proc.wait()
    proc.stdout.close()
    if proc.stderr is not None:
        proc.stderr.close()
    if b'"message"' not in line:
        raise SystemExit(f"unexpected first line from {proc.args!r}: {line!r}")
    return took


def first_output_ms(argv: list[str], payload: bytes) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    return first_line_ms(proc, payload, started)


def find_podman() -> str | None:
    return shutil.which("podman")
