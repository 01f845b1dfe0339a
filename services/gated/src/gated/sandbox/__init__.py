"""Confinement of agent runs: bubblewrap (namespaces, read-only system, own /tmp, /proc and
/dev, empty environment) and resource limits (cgroups when gated may make them, else rlimits)."""

from gated.sandbox.cgroups import CgroupParent, RunCgroup, cgroup_parent
from gated.sandbox.errors import SandboxError, SandboxRequired
from gated.sandbox.launch import (
    Launch,
    SandboxSettings,
    network_warning,
    plan_launch,
    unconfined_reason,
)
from gated.sandbox.limits import RunLimits, child_setup, mechanisms, rlimits
from gated.sandbox.probe import BwrapProbe, probe_bwrap
from gated.sandbox.spec import (
    SANDBOX_MODES,
    HostPaths,
    LimitName,
    Mount,
    SandboxMode,
    SandboxSpec,
    sandbox_spec,
)

__all__ = [
    "SANDBOX_MODES",
    "BwrapProbe",
    "CgroupParent",
    "HostPaths",
    "Launch",
    "LimitName",
    "Mount",
    "RunCgroup",
    "RunLimits",
    "SandboxError",
    "SandboxMode",
    "SandboxRequired",
    "SandboxSettings",
    "SandboxSpec",
    "cgroup_parent",
    "child_setup",
    "mechanisms",
    "network_warning",
    "plan_launch",
    "probe_bwrap",
    "rlimits",
    "sandbox_spec",
    "unconfined_reason",
]
