"""What gated tells operators about confinement: the `sandbox` entry of its heartbeat info
(read by `switchboard status`, `doctor` and the dashboard) and, once per start, a system
message to the operator groups when agents would run unconfined or with the host's network
(`network=full` groups)."""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import asdict
from typing import Any

import store
from store.group_settings import all_folder_settings

from gated.sandbox.cgroups import cgroup_parent
from gated.sandbox.launch import SandboxSettings, unconfined_reason
from gated.sandbox.limits import mechanisms
from gated.sandbox.probe import probe_bwrap
from gated.sandbox.spec import SandboxSpec

log = logging.getLogger(__name__)

UNCONFINED_EVENT = "sandbox_unconfined"
NETWORK_FULL_EVENT = "network_full"


def sandbox_info(default: SandboxSpec, settings: SandboxSettings) -> dict[str, Any]:
    """The heartbeat's `sandbox` entry: does bubblewrap work, are agents confined, how the
    limits are enforced."""
    probe = probe_bwrap(settings.bwrap)
    parent, cgroup_reason = cgroup_parent()
    reason = unconfined_reason(default, settings)
    return {
        "mode": default.sandbox,
        "bwrap": "works" if probe.works else "unusable",
        "bwrap_version": probe.version,
        "bwrap_reason": probe.reason,
        "require": settings.require,
        # refused: unconfined runs fail instead (--require-sandbox, or sandbox=bwrap)
        "confined": reason is None,
        "unconfined": reason is not None and not settings.require and default.sandbox != "bwrap",
        "unconfined_reason": reason or "",
        "limits": asdict(mechanisms(parent.version if parent else None)),
        "cgroup_reason": cgroup_reason,
        "skills_dir": settings.skills_dir,  # --skills-dir, read-only at /skills in every run
    }


def warn_operators(conn: sqlite3.Connection, info: dict[str, Any]) -> int:
    """One system message per operator group when agents run unconfined; how many queued."""
    if not info["unconfined"]:
        return 0
    log.warning("agents run UNCONFINED: %s", info["unconfined_reason"])
    body = json.dumps(
        {
            "text": "Agents run unconfined, with gated's rights: "
            f"{info['unconfined_reason']}. Install bubblewrap or set --require-sandbox.",
            "reason": info["unconfined_reason"],
        }
    )
    folders = sorted({g.folder for g in store.operator_groups(conn)})
    for folder in folders:
        store.add_system_message(conn, folder, "gated", UNCONFINED_EVENT, body)
    return len(folders)


def network_full_folders(conn: sqlite3.Connection) -> list[str]:
    """The folders whose agents get the host's network (`network=full`), sorted."""
    return [s.folder for s in all_folder_settings(conn) if s.network == "full"]


def warn_network_full(conn: sqlite3.Connection, folders: list[str]) -> int:
    """One system message per operator group naming the `network=full` folders; how many
    queued."""
    if not folders:
        return 0
    listed = ", ".join(folders)
    log.warning("agents have the host's network (network=full) folders=%s", listed)
    body = json.dumps(
        {
            "text": "Agents of these groups have the host's network (network=full: no egress "
            f"proxy, no allowlist): {listed}.",
            "folders": folders,
        }
    )
    operators = sorted({g.folder for g in store.operator_groups(conn)})
    for folder in operators:
        store.add_system_message(conn, folder, "gated", NETWORK_FULL_EVENT, body)
    return len(operators)
