"""What one agent run's confinement is made of (`SandboxSpec`), and the one function that builds
it from the folder's settings (`store.FolderSettings`) over gated's own defaults."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from store.models import FolderSettings, Mount, NetworkMode, SandboxMode

__all__ = ["Mount", "NetworkMode", "SandboxMode"]

LimitName = Literal["memory", "pids", "cpu", "disk", "timeout"]
SANDBOX_MODES: tuple[SandboxMode, ...] = ("auto", "bwrap", "none")

# gated's defaults for folders that set no limit: the ones store.FolderSettings declares.
_FOLDER_DEFAULTS = FolderSettings(folder="")
DEFAULT_MEMORY_MB = _FOLDER_DEFAULTS.memory_mb
DEFAULT_PIDS = _FOLDER_DEFAULTS.pids
DEFAULT_CPU_S = _FOLDER_DEFAULTS.cpu_s
DEFAULT_DISK_MB = _FOLDER_DEFAULTS.disk_mb


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """A group's confinement: same names and defaults as `store.FolderSettings` (item 1)."""

    sandbox: SandboxMode = "auto"
    network: NetworkMode = "none"
    allow_hosts: tuple[str, ...] = ()  # network=proxy: what the egress proxy lets through
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
    db_path: str  # the database file (kept out of the sandbox with its directory)
    python_paths: tuple[str, ...] = field(default=())  # the Python environment, read-only


def sandbox_spec(
    folder: FolderSettings,
    explicit: Collection[str],
    *,
    sandbox: SandboxMode,
    memory_mb: int,
    pids: int,
    cpu_s: int,
    disk_mb: int,
) -> SandboxSpec:
    """A run's spec: each key the folder has set (`explicit`), else gated's flag for it."""
    return SandboxSpec(
        sandbox=folder.sandbox if "sandbox" in explicit else sandbox,
        network=folder.network,
        allow_hosts=folder.allow_hosts,
        mounts=folder.mounts,
        memory_mb=folder.memory_mb if "memory_mb" in explicit else memory_mb,
        pids=folder.pids if "pids" in explicit else pids,
        cpu_s=folder.cpu_s if "cpu_s" in explicit else cpu_s,
        disk_mb=folder.disk_mb if "disk_mb" in explicit else disk_mb,
        env=folder.env,
    )
