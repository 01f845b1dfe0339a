"""The command line of a confined run that reaches gated's proxies: its run directory bound in
at /run/switchboard and the in-sandbox forwarder in front of the agent, forwarding to the
credential proxy's socket and/or the egress proxy's."""

from __future__ import annotations

import json
import os
import sys

from gated.credproxy import RunProxy
from gated.egress import RunEgress
from gated.sandbox.argv import egress_templates, proxy_templates, with_forwarder

EXPOSED_ENV_FILE = "agent-env.json"  # in the run's directory; read once by the forwarder


def forwarded_argv(
    argv: list[str], proxy: RunProxy | None, egress: RunEgress | None = None
) -> list[str]:
    """A confined run's bwrap argv with its run directory bound in and the forwarder in front
    of the agent, forwarding to the credential proxy and/or the egress proxy. `--expose env`
    values go in a 0600 file there (not on a command line), which the forwarder reads and
    removes."""
    run_dir = proxy.run_dir if proxy is not None else egress.run_dir if egress else None
    if run_dir is None:
        raise ValueError("forwarded_argv: neither a credential nor an egress proxy")
    env_file = None
    templates = egress_templates() if egress is not None else {}
    if proxy is not None:
        templates.update(proxy_templates(proxy.bases, proxy.plain))
        if proxy.exposed:
            env_file = EXPOSED_ENV_FILE
            fd = os.open(run_dir / env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(proxy.exposed, f)
    return with_forwarder(
        argv,
        run_dir=str(run_dir),
        python=sys.executable,
        templates=templates,
        env_file=env_file,
        credentials=proxy is not None,
        egress=egress is not None,
    )
