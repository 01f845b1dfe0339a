"""How one run starts: confined by bubblewrap, unconfined (said so), or refused; decided from the
group's SandboxSpec, gated's settings and whether bubblewrap works here."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from gated.sandbox.argv import bwrap_argv, sandbox_env, system_layout
from gated.sandbox.errors import SandboxError, SandboxRequired
from gated.sandbox.hostview import safe_python_paths, sandbox_path_var
from gated.sandbox.probe import probe_bwrap
from gated.sandbox.skills import SKILLS_ENV, skills_mount
from gated.sandbox.spec import HostPaths, SandboxSpec


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """gated's side: which bwrap, whether unconfined runs are refused, the skills directory."""

    bwrap: str = "bwrap"
    require: bool = False
    skills_dir: str | None = None  # bound read-only into every run (gated.sandbox.skills)


@dataclass(frozen=True, slots=True)
class Launch:
    """What AgentRun starts: `argv` with `env` (bwrap's own environment is empty)."""

    argv: list[str]
    env: dict[str, str]
    confined: bool
    spec: SandboxSpec


def unconfined_reason(spec: SandboxSpec, settings: SandboxSettings) -> str | None:
    """Why a run of this spec would run unconfined (None: it would be confined)."""
    if spec.sandbox == "none":
        return "sandbox=none"
    probe = probe_bwrap(settings.bwrap)
    if probe.works:
        return None
    return f"sandbox={spec.sandbox} and bubblewrap is unusable: {probe.reason}"


def network_warning(spec: SandboxSpec, confined: bool) -> str | None:
    """What to warn about a run's network at its start (None: it is as the group asked)."""
    if not confined and spec.network != "full":
        return (
            f"network={spec.network} is NOT enforced: the agent runs unconfined and has the "
            "host's network"
        )
    if spec.network == "full":
        return "network=full: the agent has the host's network (no egress proxy, no allowlist)"
    return None


def resolve_command(argv: list[str], path: str) -> list[str]:
    """argv with its executable looked up in `path` (the PATH the agent will have)."""
    if not argv:
        raise SandboxError("command", "is empty")
    exe = argv[0]
    if "/" not in exe:
        exe = shutil.which(exe, path=path) or exe
    return [exe, *argv[1:]]


def plan_launch(
    spec: SandboxSpec,
    settings: SandboxSettings,
    host: HostPaths,
    command: list[str],
    protocol_env: Mapping[str, str],
    gated_env: Mapping[str, str],
) -> Launch:
    """The run's Launch, or SandboxError (SandboxRequired when it may not run unconfined).
    `spec.mounts` are bound as given: the caller has checked them (`store.check_mounts`); the
    skills directory is checked here (store.InvalidInput when it overlaps the forbidden paths)."""
    db = os.path.realpath(host.db_path)
    forbidden = [os.path.dirname(db), os.path.realpath(host.groups_dir)]
    skills = skills_mount(settings.skills_dir, forbidden) if settings.skills_dir else None
    reason = unconfined_reason(spec, settings)
    if reason is not None:
        if settings.require:
            raise SandboxRequired(
                "sandbox", f"refusing to run the agent unconfined ({reason}; --require-sandbox)"
            )
        if spec.sandbox == "bwrap":
            raise SandboxRequired("sandbox", reason)
        env = {**gated_env, **dict(spec.env), **protocol_env}
        if skills is not None:
            env[SKILLS_ENV] = skills.host_path
        # The venv's console scripts live beside the interpreter, which may not be on PATH
        # when gated was started as `python -m gated.main`.
        path = os.pathsep.join([env.get("PATH", os.defpath), os.path.dirname(sys.executable)])
        return Launch(resolve_command(command, path), env, False, spec)
    folder = os.path.realpath(host.folder)
    path_var = sandbox_path_var()
    env = sandbox_env(
        home=folder,
        path=path_var,
        lang=gated_env.get("LANG") or "C.UTF-8",
        protocol={**protocol_env, **({SKILLS_ENV: skills.inside_path} if skills else {})},
        declared=spec.env,
    )
    argv = bwrap_argv(
        probe_bwrap(settings.bwrap).path,
        resolve_command(command, path_var),
        folder=folder,
        python_paths=safe_python_paths(forbidden),
        mounts=(*spec.mounts, skills) if skills else spec.mounts,
        env=env,
        tmp_mb=spec.disk_mb,
        layout=system_layout(),
        share_net=spec.network == "full",
    )
    return Launch(argv, {}, True, spec)
