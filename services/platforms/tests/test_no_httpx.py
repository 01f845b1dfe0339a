"""The Slack, Discord and Matrix adapters do not load httpx (issue 17: about 20 MB of idle RSS).
Their platform libraries speak aiohttp, and so does adapterkit; only python-telegram-bot brings
httpx. Each import runs in a fresh interpreter, so other tests' imports do not count."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = "import sys, {module}; sys.exit('httpx' in sys.modules)"


@pytest.mark.parametrize(
    "module", ["platforms.slack", "platforms.discord_adapter", "platforms.matrix"]
)
def test_adapter_does_not_import_httpx(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK.format(module=module)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{module} imports httpx\n{done.stderr}"
