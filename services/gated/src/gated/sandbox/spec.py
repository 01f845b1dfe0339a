"""What one agent run's confinement is made of (`SandboxSpec`), and the one function that builds
it from gated's settings. The per-folder settings of issue 15 item 1 will feed the same fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SandboxMode = Literal["auto", "bwrap", "none"]
NetworkMode = Literal["none", "proxy", "full"]
LimitName = Literal["memory", "pids", "cpu", "disk", "timeout"]
SANDBOX_MODES: tuple[SandboxMode, ...] = ("auto", "bwrap", "none")

DEFAULT_MEMORY_MB = 1024
DEFAULT_PIDS = 256
DEFAULT_CPU_S = 600
DEFAULT_DISK_MB = 1024


@dataclass(frozen=True, slots=True)
class Mount:
    """A host path shown inside the sandbox (read-only unless `writable`)."""

    host_path: str
    inside_path: str
    writable: bool = False


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """A group's confinement: same names and defaults as `store.FolderSettings` (item 1)."""

    sandbox: SandboxMode = "auto"
    network: NetworkMode = "none"
    mounts: tuple[Mount, ...] = ()
    memory_mb: int = DEFAULT_MEMORY_MB
    pids: int = DEFAULT_PIDS
    cpu_s: int = DEFAULT_CPU_S
    disk_mb: int = DEFAULT_DISK_MB
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class HostPaths:
    """gated's side of a run: where things are on the host, and what may never be mounted."""

    folder: str  # the group folder (resolved); the sandbox's working directory
    groups_dir: str  # every group's folder lives under it
    db_path: str  # the database file (its directory is forbidden too)
    mount_roots: tuple[str, ...] = ()  # --mount-root: declared mounts must lie under one
    python_paths: tuple[str, ...] = field(default=())  # the Python environment, read-only


def sandbox_spec(
    *,
    sandbox: SandboxMode,
    memory_mb: int,
    pids: int,
    cpu_s: int,
    disk_mb: int,
    env: dict[str, str] | None = None,
) -> SandboxSpec:
    """A run's spec from gated's defaults and the group's `agent_config.env` (until the folder
    settings exist; then FolderSettings → SandboxSpec replaces this one function)."""
    return SandboxSpec(
        sandbox=sandbox,
        memory_mb=memory_mb,
        pids=pids,
        cpu_s=cpu_s,
        disk_mb=disk_mb,
        env=tuple(sorted((env or {}).items())),
    )
