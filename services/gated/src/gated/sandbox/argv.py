"""The bubblewrap command line and the environment of one confined run (pure: paths in, argv
out). bwrap itself is started with an empty environment; the agent's is set with --setenv."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from gated.sandbox.hostview import ETC_FILES, NET_ETC_FILES, SYSTEM_DIRS
from gated.sandbox.spec import Mount

MIB = 1024 * 1024
# Where a run's directory (its `proxy.sock` and `egress.sock`) is inside the sandbox.
PROXY_DIR_INSIDE = "/run/switchboard"
PROXY_SOCKET = "proxy.sock"
EGRESS_SOCKET = "egress.sock"
# What a network=proxy agent's HTTP clients are pointed at (the forwarder's second listener);
# NO_PROXY keeps the credential proxy's 127.0.0.1 base URLs direct.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
NO_PROXY = "127.0.0.1,localhost"
FORWARDER_MODULE = "gated.sandbox.forwarder"
# Where a run's tool socket directory is inside the sandbox (gated.tools).
TOOLS_DIR_INSIDE = "/run/switchboard-tools"
TOOLS_SOCKET = f"{TOOLS_DIR_INSIDE}/tools.sock"
SANDBOX_TMP = "/tmp"  # noqa: S108 (inside the sandbox: its own tmpfs, nobody else's)
# Everything unshared (user, pid, ipc, uts, net, cgroup); no new privileges (bwrap always
# sets it); no capability even for root; the sandbox dies with gated's run thread's bwrap.
NAMESPACE_ARGS = (
    "--unshare-all",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
    "--hostname",
    "sandbox",
)


@dataclass(frozen=True, slots=True)
class SystemLayout:
    """What the host's system looks like: real directories to bind, symlinks to recreate,
    and the /etc entries present."""

    dirs: tuple[str, ...]
    links: tuple[tuple[str, str], ...]  # (path, target)
    etc: tuple[str, ...]
    net_etc: tuple[str, ...] = ()  # name resolution's files, shown for network=full only


def system_layout() -> SystemLayout:
    dirs: list[str] = []
    links: list[tuple[str, str]] = []
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            links.append((d, os.readlink(d)))
        elif os.path.isdir(d):
            dirs.append(d)
    etc = tuple(p for p in ETC_FILES if os.path.exists(p))
    net_etc = tuple(p for p in NET_ETC_FILES if os.path.exists(p))
    return SystemLayout(tuple(dirs), tuple(links), etc, net_etc)


def bwrap_argv(
    bwrap: str,
    command: list[str],
    *,
    folder: str,
    python_paths: tuple[str, ...],
    mounts: tuple[Mount, ...],
    env: Mapping[str, str],
    tmp_mb: int,
    layout: SystemLayout,
    share_net: bool = False,
) -> list[str]:
    """bwrap's argv: system and Python read-only, own /tmp (tmp_mb), /proc, /dev, the folder
    read-write as the working directory, declared mounts, the agent's environment, command.
    `share_net` (network=full): the host's network namespace and name resolution files."""
    argv = [bwrap, *NAMESPACE_ARGS]
    if share_net:
        argv.insert(argv.index("--unshare-all") + 1, "--share-net")
    for d in layout.dirs:
        argv += ["--ro-bind", d, d]
    for path, target in layout.links:
        argv += ["--symlink", target, path]
    for path in (*layout.etc, *(layout.net_etc if share_net else ())):
        argv += ["--ro-bind", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--size", str(tmp_mb * MIB), "--perms", "1777", "--tmpfs", SANDBOX_TMP]
    for path in python_paths:
        argv += ["--ro-bind", path, path]
    # After /tmp and the Python paths, so a folder below either is still the real folder.
    argv += ["--bind", folder, folder]
    for m in mounts:
        argv += ["--bind" if m.writable else "--ro-bind", m.host_path, m.inside_path]
    # The root (a tmpfs holding the mount points) read-only: only the folder, /tmp and :rw
    # mounts can be written.
    argv += ["--remount-ro", "/", "--chdir", folder, "--clearenv"]
    for name, value in sorted(env.items()):
        argv += ["--setenv", name, value]
    return [*argv, "--", *command]


def sandbox_env(
    *,
    home: str,
    path: str,
    lang: str,
    protocol: Mapping[str, str],
    declared: tuple[tuple[str, str], ...],
) -> dict[str, str]:
    """The agent's whole environment: HOME, PATH, LANG, the protocol's variables and the
    group's declared `env.*` (which cannot replace the protocol's)."""
    return {"HOME": home, "PATH": path, "LANG": lang, **dict(declared), **protocol}


def proxy_templates(bases: Mapping[str, str], plain: Mapping[str, str]) -> dict[str, str]:
    """The forwarder's `--set-env` templates: each base URL variable at the forwarder's
    `{port}` (the socket serves `/<name>/…`, no token), the socket's inside path, and the
    proxy's plain variables (the placeholder API key; never a secret's value)."""
    out = {var: f"http://127.0.0.1:{{port}}/{name}" for var, name in bases.items()}
    out.update(plain)
    out["SWITCHBOARD_PROXY_SOCKET"] = f"{PROXY_DIR_INSIDE}/{PROXY_SOCKET}"
    return out


def egress_templates() -> dict[str, str]:
    """The forwarder's `--set-env` templates of a network=proxy run: every proxy variable at
    the forwarder's `{egress_port}` (the egress socket), and NO_PROXY."""
    out = dict.fromkeys(PROXY_VARIABLES, "http://127.0.0.1:{egress_port}")
    out["NO_PROXY"] = out["no_proxy"] = NO_PROXY
    return out


def with_forwarder(
    argv: list[str],
    *,
    run_dir: str,
    python: str,
    templates: Mapping[str, str],
    env_file: str | None = None,
    credentials: bool = True,
    egress: bool = False,
) -> list[str]:
    """A `bwrap_argv` command line with the run's directory bound read-write at
    PROXY_DIR_INSIDE (before the root is made read-only) and the agent run by the forwarder,
    which listens on the sandbox's own 127.0.0.1 for the credential proxy's socket and/or
    (`egress`) the egress proxy's, and sets `templates` (their ports filled in)."""
    remount = argv.index("--remount-ro")
    start = _command_start(argv, remount)
    forwarder = [python, "-I", "-m", FORWARDER_MODULE]
    if credentials:
        forwarder += ["--socket", f"{PROXY_DIR_INSIDE}/{PROXY_SOCKET}"]
    if egress:
        forwarder += ["--egress-socket", f"{PROXY_DIR_INSIDE}/{EGRESS_SOCKET}"]
    for name, template in sorted(templates.items()):
        forwarder += ["--set-env", f"{name}={template}"]
    if env_file is not None:
        forwarder += ["--env-file", f"{PROXY_DIR_INSIDE}/{env_file}"]
    return [
        *argv[:remount],
        "--bind",
        run_dir,
        PROXY_DIR_INSIDE,
        *argv[remount:start],
        *forwarder,
        "--",
        *argv[start:],
    ]


def _command_start(argv: list[str], remount: int) -> int:
    """Where the agent's command begins in a `bwrap_argv` line: after `--remount-ro / --chdir
    DIR --clearenv`, the `--setenv NAME VALUE` triples (a value may be anything) and `--`."""
    i = remount + 5
    if argv[remount : remount + 5 : 2] != ["--remount-ro", "--chdir", "--clearenv"]:
        raise ValueError("not a bwrap_argv command line")
    while i < len(argv) and argv[i] == "--setenv":
        i += 3
    if i >= len(argv) or argv[i] != "--":
        raise ValueError("not a bwrap_argv command line")
    return i + 1


def with_tools(argv: list[str], tools_dir: str, env: Mapping[str, str]) -> list[str]:
    """A `bwrap_argv` command line with the run's tool socket directory bound read-write at
    TOOLS_DIR_INSIDE (before the root is made read-only) and the tool variables set."""
    remount = argv.index("--remount-ro")
    start = _command_start(argv, remount)
    setenv = [a for name, value in sorted(env.items()) for a in ("--setenv", name, value)]
    return [
        *argv[:remount],
        "--bind",
        tools_dir,
        TOOLS_DIR_INSIDE,
        *argv[remount : start - 1],
        *setenv,
        *argv[start - 1 :],
    ]
