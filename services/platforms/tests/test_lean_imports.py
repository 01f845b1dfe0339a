"""What the adapters load, for their idle RSS (issue 17: ≤ 60 MB). Slack, Discord and Matrix do not
load httpx at all: their platform libraries speak aiohttp, and so does adapterkit. Telegram's
python-telegram-bot needs httpx, but its entry point keeps out httpx's command-line client
(click, rich, pygments) and cryptography (Telegram Passport only). Each check runs in a fresh
interpreter, so other tests' imports do not count."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

NO_HTTPX = "import sys, {module}; sys.exit('httpx' in sys.modules)"
TELEGRAM_UNUSED = ("click", "rich", "pygments", "cryptography")
TELEGRAM_LEAN = (
    "import sys\n"
    "import platforms.lean as lean\n"
    "lean.keep_out(lean.UNUSED_BY_TELEGRAM)\n"
    "import platforms.telegram\n"
    f"loaded = [m for m in {TELEGRAM_UNUSED!r} if sys.modules.get(m) is not None]\n"
    "sys.exit(f'loaded: {loaded}' if loaded else 0)\n"
)


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    "module", ["platforms.slack", "platforms.discord_adapter", "platforms.matrix"]
)
def test_adapter_does_not_import_httpx(module: str) -> None:
    done = python(NO_HTTPX.format(module=module))
    assert done.returncode == 0, f"{module} imports httpx\n{done.stderr}"


def test_telegram_entry_point_keeps_unused_imports_out() -> None:
    (script,) = entry_points(group="console_scripts", name="switchboard-telegram")
    assert script.value == "platforms.lean:telegram"
    done = python(TELEGRAM_LEAN)
    assert done.returncode == 0, done.stderr


def test_the_unused_imports_would_load_otherwise() -> None:
    """The check above is not vacuous: without keep_out, python-telegram-bot loads them here."""
    done = python(TELEGRAM_LEAN.replace("lean.keep_out(lean.UNUSED_BY_TELEGRAM)\n", ""))
    assert done.returncode != 0
    assert "cryptography" in done.stderr
